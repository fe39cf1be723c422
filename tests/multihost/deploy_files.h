// The files of deploy/systemd read the way systemd reads them, so that the multi-host tests
// start their daemons from the same unit and env file an operator installs
// (docs/deploy-workers.md).
//
// Supported, as systemd.exec(5) defines it: in an EnvironmentFile, blank lines, comment lines
// (# or ;), KEY=VALUE with optional whitespace around '=', values unquoted or fully single- or
// double-quoted. In a unit, the [Service] keys Environment= (several KEY=VALUE words, quoted
// or not), EnvironmentFile=, ExecStart= and WorkingDirectory=, and the specifiers %i, %H, %%.
// Anything else that would change what systemd does is refused with an error naming the line
// (e.g. a trailing "# comment" after a value, which systemd keeps as part of the value), so a
// deploy file that only looks right fails the tests.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/integration/harness.h"

namespace fanout::testing::multihost {

// Ordered KEY=VALUE pairs, later ones winning (as Env is used by the harness).
using EnvList = Env;

// Parses the text of an EnvironmentFile. `what` names it in errors.
Result<EnvList> ParseEnvFile(const std::string& text, const std::string& what);

struct UnitService {
  EnvList environment;                       // Environment= lines, in order
  std::vector<std::string> environment_files;  // EnvironmentFile= paths ("-" prefix dropped)
  std::vector<std::string> exec_start;       // ExecStart= split into words
  std::string working_directory;             // "" when unset
};

// Parses a unit's [Service] section with the specifiers %i → `instance`, %H → `hostname`.
Result<UnitService> ParseUnit(const std::string& text, const std::string& what,
                              const std::string& instance, const std::string& hostname);

// The value of `key` (last one wins), or "" when unset.
std::string Lookup(const EnvList& env, const std::string& key);
// Sets `key` (replacing every earlier value).
void Set(EnvList& env, const std::string& key, const std::string& value);

// Splits "tcp://HOST:PORT" or "HOST:PORT" into its parts; false when it is neither.
bool SplitEndpoint(const std::string& endpoint, std::string* scheme, std::string* host,
                   int* port);

}  // namespace fanout::testing::multihost
