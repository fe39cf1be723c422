// `fanout keygen`: CurveZMQ key pairs and coordinator key directories (common/curve_keys.h,
// docs/security.md).
//   fanout keygen NAME [--dir DIR] [--allow LISTDIR] [--if-missing]
//       DIR/NAME.key (secret, 0600) and DIR/NAME.pub (public, Z85); prints the public key.
//       --allow also lists the public key in LISTDIR (a coordinator's clients/ or workers/).
//   fanout keygen --coordinator-dir DIR [--if-missing]
//       DIR (0700) with server.key/server.pub and empty clients/ and workers/.
// An existing pair is never overwritten: exit 2, or 0 with --if-missing (the pair is kept).
#pragma once

#include <string>

namespace fanout::cli {

struct KeygenOptions {
  std::string name;
  std::string dir = ".";
  std::string allow;
  std::string coordinator_dir;
  bool if_missing = false;
};

// Returns the process exit code (0, 1 on a file error, 2 on a usage error or an existing pair).
int RunKeygen(const KeygenOptions& opts);

}  // namespace fanout::cli
