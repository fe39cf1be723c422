// SignatureCheck: at submission, the function tasks of a workflow against what the connected
// workers offer (DESIGN §3.3: "workers advertise their functions and signatures; the
// coordinator checks a spec against them"). Pure: the client API gathers the offers from the
// worker registry and asks.
//
// Workers advertise function names in their HELLO (wire::Hello::functions). Signatures are
// checked when a worker advertises them (WorkerOffer::signatures); today's workers do not, so
// only names are checked (the worker change is described in docs/operations.md).
#pragma once

#include <map>
#include <string>
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

}  // namespace fanout
