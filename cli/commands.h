// The verbs of `fanout` (DESIGN §3.2) and its entry point.
#pragma once

namespace fanout::cli {

// Parses argv, runs the verb, returns the process exit code (see exit_code.h).
int Main(int argc, char** argv);

}  // namespace fanout::cli
