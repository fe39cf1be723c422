// SignatureCheck: at submission, the function tasks of a workflow against what the connected
// workers offer (DESIGN §3.3: "workers advertise their functions and signatures; the
// coordinator checks a spec against them"). Pure: the client API gathers the offers from the
// worker registry and asks.
//
// Workers advertise function names in their HELLO (wire::Hello::functions), and the signature
// of each plugin function its SDK declared (wire::FunctionInfo::signature). A spec's task must
// fit the signature the way the worker converts values: the same types, or int where the
// function takes float, a value (or none) where it takes optional<T>, bytes where it takes str;
// a json type on either side is not judged. Built-ins and plugins built with an older SDK
// advertise no signature: only their names are checked.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/spec.h"
#include "common/status.h"

namespace fanout {

// A function's declared parameter and result types, as spec type strings ("int", "list<str>").
struct FunctionSignature {
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  bool operator==(const FunctionSignature&) const = default;
};

struct WorkerOffer {
  std::string worker_id;
  std::vector<std::string> functions;
  std::map<std::string, FunctionSignature> signatures;  // may be empty: names only
  bool draining = false;  // takes no new work: its offers do not count
};

struct SignatureCheckOptions {
  // `fanout run --wait-for-workers`: a function no connected worker offers is accepted (the
  // execution waits for a worker that has it). Signature mismatches are refused regardless.
  bool wait_for_workers = false;
  // No worker is connected and none may have joined yet (the coordinator has just started):
  // nothing can be judged, the spec is accepted.
  bool cluster_starting = false;
};

// OK, or InvalidArgument naming the task, the function and what the workers offer (with the
// closest name when it looks like a typo), and how to wait for a worker instead.
Status CheckFunctions(const Spec& spec, const WorkflowDef& wf, const std::vector<WorkerOffer>& offers,
                      const SignatureCheckOptions& options);

// The signature a task of the spec expects of its function.
FunctionSignature SignatureOf(const TaskDef& task);

// A worker's advertised signature, "int,list<str>->bool" ("->" alone: no parameters, void);
// nullopt when it is malformed or names a type the spec has no name for.
std::optional<FunctionSignature> ParseSignature(std::string_view text);

// Whether a task declaring `spec` can call a function taking and returning `fn` (see above).
bool Fits(const FunctionSignature& spec, const FunctionSignature& fn);

}  // namespace fanout
