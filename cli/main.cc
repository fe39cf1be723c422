#include "cli/commands.h"

int main(int argc, char** argv) { return fanout::cli::Main(argc, argv); }
