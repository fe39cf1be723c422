// The `-i NAME=JSON` / `-i NAME=@file.json` flags of `fanout run`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/spec.h"
#include "common/status.h"
#include "common/value.h"

namespace fanout::cli {

struct InputFlag {
  std::string name;
  std::string text;        // the JSON text, or the file path when from_file
  bool from_file = false;  // NAME=@path
};

// Splits "NAME=JSON" or "NAME=@path". Errors (InvalidArgument) name the flag.
Result<InputFlag> SplitInputFlag(std::string_view flag);

// Parses every flag into a value for the workflow's input of that name. Values are JSON; for
// an input of type str (or optional<str>), text that is not a JSON string is taken literally
// (`-i name=alice`, `-i id=0042`). Names must be inputs of the workflow and appear once.
// Types are checked later by ResolveWorkflowInputs.
Result<Map> ParseInputFlags(const std::vector<std::string>& flags, const WorkflowDef& wf);

// The given values as a JSON object text (the SubmitRequest's inputs_json).
std::string InputsToJson(const Map& given);

}  // namespace fanout::cli
