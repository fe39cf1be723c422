// The data contract of one attempt, shared by every task kind (DESIGN §3.3): decoding the
// WorkItem's msgpack args, the inputs JSON object of commands, {{inputs.NAME}} placeholders,
// and checking, coercing and encoding outputs against the declared output types.
// Pure functions: no I/O, any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/value.h"
#include "common/wire.h"

namespace fanout::worker {

// Decodes WorkItem::args: a msgpack array with one element per declared input.
Result<List> DecodeArgs(const wire::TaskDesc& task, std::string_view args);

// The index of input `name` in task.inputs, if declared.
std::optional<size_t> FindInput(const wire::TaskDesc& task, std::string_view name);

// The inputs as a JSON object {name: value}; bytes as {"$bytes": base64}.
nlohmann::json InputsJson(const wire::TaskDesc& task, const List& args);

// NAME when `placeholder` is "{{inputs.NAME}}" (spaces inside the braces allowed).
std::optional<std::string_view> PlaceholderInput(std::string_view placeholder);

// What a placeholder stands for: a string raw, any other value as compact JSON.
std::string PlaceholderText(const Value& v);

// The error for a placeholder naming an input the task does not declare.
Status UnknownInputError(std::string_view arg, std::string_view name, const wire::TaskDesc& task);

// Replaces every {{inputs.NAME}} (spaces inside the braces allowed) in one argument with
// PlaceholderText. An unknown NAME is an error naming it. For a whole command, with shell
// scripts handled safely, see BuildCommandArgv (command_argv.h).
Result<std::string> SubstitutePlaceholders(std::string_view arg, const wire::TaskDesc& task,
                                           const List& args);

// Checks each value against its declared output type, coerces it (int → float) and encodes
// the msgpack array of ResultItem::outputs. A mismatch names the output and the expected type.
Result<std::string> EncodeOutputs(const std::vector<wire::Param>& outputs,
                                  std::vector<Value> values);

// Encodes the single return value of a function: the one output when one is declared, nothing
// when none is declared (the value is ignored); several declared outputs are an error.
Result<std::string> EncodeSingleOutput(const std::vector<wire::Param>& outputs, Value value);

// The outputs of a command that exited 0: from the JSON object in $FANOUT_OUTPUTS when the
// task wrote that file (outputs_file), else from stdout parsed as one JSON value when exactly
// one output is declared; no declared outputs → an empty array.
Result<std::string> ParseCommandOutputs(const std::vector<wire::Param>& outputs,
                                        const std::optional<std::string>& outputs_file,
                                        std::string_view stdout_text);

// The last non-empty line of a stream, at most max_len characters (its tail), trimmed.
std::string LastNonEmptyLine(std::string_view text, size_t max_len = 200);

}  // namespace fanout::worker
