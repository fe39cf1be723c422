// The argv of a command task (DESIGN §3.3): {{inputs.NAME}} placeholders replaced, and never
// pasted into shell code.
//
// The rule. When the command is a shell invocation — argv[0] is sh, bash, dash, ash, ksh, mksh
// or zsh (by basename, so /bin/sh and /usr/bin/bash count too) and its options before the first
// operand include -c (alone or in a cluster such as -ec or -xc; `-o NAME` pairs are skipped) —
// the first operand is the script, and a placeholder inside the script is replaced by a
// reference to a positional parameter ("${1}", "${2}", ...) whose value is appended to argv
// after the script's own operands. The value itself never becomes part of the script, so the
// shell only ever sees it as data: `sh -c 'echo hello {{inputs.name}}'` with name
// `x'; id > f; echo '` prints that text and runs nothing else. The reference is quoted for the
// place it stands in (unquoted: "${N}"; inside "...": ${N}; inside '...': '"${N}"'), so a value
// is one word, never split or globbed. Inside $(( ... )) it is ${N}: arithmetic evaluates the
// value (bash evaluates array subscripts in it too), so give such inputs an int type. When the script has no operands after it, argv[0]'s
// basename is inserted as $0, so the shell's messages read as before ("sh: 1: ...").
// Every other argument (including arguments after the script, and every argument of a command
// that is not a shell invocation) gets the value itself: strings raw, other values as compact
// JSON; such an argument is one argv element however it looks. Code strings of other
// interpreters (python -c, perl -e) are not rewritten: pass inputs as separate arguments or read
// $FANOUT_INPUTS there.
// Pure functions, any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/value.h"
#include "common/wire.h"

namespace fanout::worker {

// The index of the script operand when `argv` is a shell invocation with -c (see above),
// else -1.
int ShellScriptIndex(const std::vector<std::string>& argv);

// task.command with every placeholder replaced under the rule above. An unknown input name is
// an error naming it.
Result<std::vector<std::string>> BuildCommandArgv(const wire::TaskDesc& task, const List& args);

}  // namespace fanout::worker
