// fanout-task-shim: the supervisor between fanout-worker and a command. See worker/task_shim.h.
#include "worker/task_shim.h"

int main(int argc, char** argv) { fanout::worker::RunTaskShim(argc, argv); }
