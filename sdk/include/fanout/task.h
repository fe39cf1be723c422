// fanout task plugins: the public header (DESIGN §3.3).
//
// A plugin is a shared object that defines C++ functions and registers them by name:
//
//   #include <fanout/task.h>
//   bool detect_anomalies(int64_t data_point) { return data_point > 11; }
//   FANOUT_TASK(detect_anomalies, detect_anomalies)
//
// and the worker loads it with `fanout-worker --plugin libmy_tasks.so`.
//
// Argument and return types map to spec types: int64_t → int, double → float, bool → bool,
// std::string → str, std::vector<T> → list<T>, std::optional<T> → optional<T>,
// std::map<std::string, T> → map<T>. Arguments are taken positionally, in the order of the
// task's declared inputs. The single return value is the task's single output (a void
// function has no outputs). A function may take a `fanout::TaskContext&` as first parameter.
//
// Errors: throw fanout::NonRetryable to fail the subtask at once; any other exception is a
// user error (retried within the task's `retries`), reported with e.what(). An argument of the
// wrong type is a user error naming the argument.
//
// Threads: functions run on the worker's thread pool, several at once (one per slot). They must
// be thread-safe with respect to each other; a TaskContext belongs to one call.
//
// ABI (v1), for the worker: every plugin exports one weak `extern "C"` symbol,
// `fanout_plugin_v1()`, returning a table {abi_version, count, entries[{name, invoke}]}. Only C
// types cross the boundary, so a plugin and the worker need not share a C++ standard library
// build. `invoke` never throws; it reports through `fanout_call::set_result` exactly once.
// Plugins built with this header also export `fanout_plugin_signatures_v1()`: one signature
// string per entry, in the same order, "int,list<str>->bool" (the spec types of the parameters
// without a TaskContext, then of the result; nothing after "->" for a void function). The
// worker advertises them, and the coordinator checks a spec's task against them at submission.
// A plugin without it (an older header) is loaded as before, with names only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#ifndef MSGPACK_NO_BOOST
#define MSGPACK_NO_BOOST
#endif
#include <msgpack.hpp>

extern "C" {

#define FANOUT_PLUGIN_ABI_VERSION 1u

// Status codes of fanout_call::set_result.
enum {
  FANOUT_RESULT_OK = 0,             // data: msgpack of the return value (nil for void)
  FANOUT_RESULT_USER_ERROR = 1,     // data: the error message (retryable)
  FANOUT_RESULT_NON_RETRYABLE = 2,  // data: the error message (fail at once)
};

// One call of a task function. Owned by the worker; valid for the duration of invoke.
struct fanout_call {
  const char* args;  // msgpack array of the arguments
  size_t args_len;
  int32_t attempt;              // 0-based
  const char* prev_checkpoint;  // null when there is none
  size_t prev_checkpoint_len;
  void* host;  // opaque, passed back to the callbacks below
  // Thread-safe; may be polled often.
  int (*is_cancelled)(void* host);
  // Copies the bytes and saves them; the latest call wins. Over the cap: refused, and the
  // attempt fails.
  void (*checkpoint)(void* host, const char* data, size_t len);
  // Copies the bytes. Called exactly once per invoke.
  void (*set_result)(void* host, int status, const char* data, size_t len);
};

struct fanout_entry {
  const char* name;
  void (*invoke)(const struct fanout_call* call);
};

struct fanout_plugin {
  uint32_t abi_version;  // FANOUT_PLUGIN_ABI_VERSION
  uint32_t count;
  const struct fanout_entry* entries;
};

typedef const struct fanout_plugin* (*fanout_plugin_v1_fn)(void);
// Optional: `count` signature strings, entries[i]'s at [i]. See the header comment.
typedef const char* const* (*fanout_plugin_signatures_v1_fn)(void);

}  // extern "C"

namespace fanout {

// Thrown by a task function: the subtask fails without retry (like a command's exit 42).
class NonRetryable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a running task knows about its attempt. Valid only during the call.
class TaskContext {
 public:
  explicit TaskContext(const fanout_call* call) : call_(call) {}

  // 0-based attempt number of this subtask.
  int attempt() const { return call_->attempt; }
  // True once the coordinator aborted this attempt or it timed out; return soon after.
  bool cancelled() const { return call_->is_cancelled(call_->host) != 0; }
  // The latest checkpoint this subtask saved in any earlier attempt (kept by the coordinator
  // across attempts, worker loss and coordinator restarts), if any.
  std::optional<std::string> previous_checkpoint() const {
    if (call_->prev_checkpoint == nullptr) return std::nullopt;
    return std::string(call_->prev_checkpoint, call_->prev_checkpoint_len);
  }
  // Saves a checkpoint (opaque bytes): the worker sends it to the coordinator at once, and the
  // next attempt of this subtask gets the latest one as previous_checkpoint(). A checkpoint
  // larger than the task's max_checkpoint_bytes (default: the worker's --max-checkpoint-bytes,
  // 16 MiB) is refused: the attempt fails as a user error "checkpoint of N bytes exceeds the cap
  // of M bytes", whatever the function returns, and cancelled() is true from then on.
  void checkpoint(const std::string& bytes) {
    call_->checkpoint(call_->host, bytes.data(), bytes.size());
  }

 private:
  const fanout_call* call_;
};

namespace sdk_detail {

// The spec type name of a C++ parameter type, for error messages.
template <typename T>
struct TypeName {
  static std::string Get() { return "an unsupported type"; }
};
template <>
struct TypeName<int64_t> {
  static std::string Get() { return "int"; }
};
template <>
struct TypeName<double> {
  static std::string Get() { return "float"; }
};
template <>
struct TypeName<bool> {
  static std::string Get() { return "bool"; }
};
template <>
struct TypeName<std::string> {
  static std::string Get() { return "str"; }
};
template <typename T>
struct TypeName<std::vector<T>> {
  static std::string Get() { return "list<" + TypeName<T>::Get() + ">"; }
};
template <typename T>
struct TypeName<std::optional<T>> {
  static std::string Get() { return "optional<" + TypeName<T>::Get() + ">"; }
};
template <typename T>
struct TypeName<std::map<std::string, T>> {
  static std::string Get() { return "map<" + TypeName<T>::Get() + ">"; }
};

template <typename F>
struct FnTraits;
template <typename R, typename... A>
struct FnTraits<R (*)(A...)> {
  using Return = R;
  using Args = std::tuple<A...>;
};
template <typename R, typename... A>
struct FnTraits<R (*)(A...) noexcept> : FnTraits<R (*)(A...)> {};

template <typename Tuple>
struct TakesContext : std::false_type {};
template <typename First, typename... Rest>
struct TakesContext<std::tuple<First, Rest...>>
    : std::is_same<std::remove_cvref_t<First>, TaskContext> {};

template <typename Tuple>
struct DropFirst {
  using type = std::tuple<>;
};
template <typename First, typename... Rest>
struct DropFirst<std::tuple<First, Rest...>> {
  using type = std::tuple<Rest...>;
};

class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline void Report(const fanout_call* call, int status, const std::string& data) {
  call->set_result(call->host, status, data.data(), data.size());
}

// Converts argument i of the msgpack array to T; a mismatch is a UserError naming it.
template <typename T>
T ConvertArg(const msgpack::object& o, size_t i) {
  try {
    return o.as<T>();
  } catch (const std::exception&) {
    throw UserError("argument " + std::to_string(i + 1) + ": expected " + TypeName<T>::Get());
  }
}

template <typename ArgTuple, size_t... I>
ArgTuple ConvertArgs(const msgpack::object* items, std::index_sequence<I...>) {
  return ArgTuple{ConvertArg<std::tuple_element_t<I, ArgTuple>>(items[I], I)...};
}

template <typename Tuple>
struct Decayed;
template <typename... A>
struct Decayed<std::tuple<A...>> {
  using type = std::tuple<std::remove_cvref_t<A>...>;
};

template <typename Tuple>
struct TypeNames;
template <typename... A>
struct TypeNames<std::tuple<A...>> {
  static std::string Get() {
    std::string out;
    ((out += (out.empty() ? "" : ",") + TypeName<A>::Get()), ...);
    return out;
  }
};

// What F takes and returns, in spec types: "int,str->bool" ("int->" for a void function). A type
// the spec cannot name reads "an unsupported type", which the worker does not advertise.
template <auto F>
std::string Signature() {
  using Traits = FnTraits<decltype(F)>;
  using R = std::remove_cvref_t<typename Traits::Return>;
  using Params = std::conditional_t<TakesContext<typename Traits::Args>::value,
                                    typename DropFirst<typename Traits::Args>::type,
                                    typename Traits::Args>;
  std::string s = TypeNames<typename Decayed<Params>::type>::Get() + "->";
  if constexpr (!std::is_void_v<R>) s += TypeName<R>::Get();
  return s;
}

// Calls F with the arguments decoded from call->args and reports its outcome.
template <auto F>
void Invoke(const fanout_call* call) noexcept {
  using Traits = FnTraits<decltype(F)>;
  using R = typename Traits::Return;
  constexpr bool kCtx = TakesContext<typename Traits::Args>::value;
  using Params = std::conditional_t<kCtx, typename DropFirst<typename Traits::Args>::type,
                                    typename Traits::Args>;
  using Values = typename Decayed<Params>::type;
  constexpr size_t kArity = std::tuple_size_v<Values>;
  try {
    msgpack::unpack_limit limit(1u << 24, 1u << 16, 64u << 20, 64u << 20, 0, 64);
    msgpack::object_handle oh =
        msgpack::unpack(call->args, call->args_len, nullptr, nullptr, limit);
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::ARRAY) throw UserError("arguments are not an array");
    if (o.via.array.size != kArity) {
      throw UserError("function takes " + std::to_string(kArity) + " argument(s), got " +
                      std::to_string(o.via.array.size));
    }
    Values values = ConvertArgs<Values>(o.via.array.ptr, std::make_index_sequence<kArity>{});
    TaskContext ctx(call);
    auto call_f = [&](auto&&... a) -> decltype(auto) {
      if constexpr (kCtx) {
        return F(ctx, std::move(a)...);
      } else {
        return F(std::move(a)...);
      }
    };
    msgpack::sbuffer buf;
    if constexpr (std::is_void_v<R>) {
      std::apply(call_f, std::move(values));
      msgpack::pack(buf, msgpack::type::nil_t());
    } else {
      R r = std::apply(call_f, std::move(values));
      msgpack::pack(buf, r);
    }
    call->set_result(call->host, FANOUT_RESULT_OK, buf.data(), buf.size());
  } catch (const NonRetryable& e) {
    Report(call, FANOUT_RESULT_NON_RETRYABLE, e.what());
  } catch (const std::exception& e) {
    Report(call, FANOUT_RESULT_USER_ERROR, e.what());
  } catch (...) {
    Report(call, FANOUT_RESULT_USER_ERROR, "unknown exception");
  }
}

// The entries of this shared object. Hidden: each plugin has its own registry.
struct __attribute__((visibility("hidden"))) Registry {
  std::vector<fanout_entry> entries;
  fanout_plugin table{};
  std::vector<std::string> signatures;       // signatures[i] goes with entries[i]
  std::vector<const char*> signature_ptrs;   // made by fanout_plugin_signatures_v1()
};
__attribute__((visibility("hidden"))) inline Registry& GetRegistry() {
  static Registry registry;
  return registry;
}

struct __attribute__((visibility("hidden"))) Registrar {
  Registrar(const char* name, void (*invoke)(const fanout_call*), std::string signature) {
    Registry& r = GetRegistry();
    r.entries.push_back(fanout_entry{name, invoke});
    r.signatures.push_back(std::move(signature));
    r.table.abi_version = FANOUT_PLUGIN_ABI_VERSION;
    r.table.count = static_cast<uint32_t>(r.entries.size());
    r.table.entries = r.entries.data();
  }
};

}  // namespace sdk_detail
}  // namespace fanout

// The plugin's entry point. Weak, so that every translation unit of a plugin may include this
// header. A host that only needs the ABI types defines FANOUT_SDK_NO_ENTRY first.
#ifndef FANOUT_SDK_NO_ENTRY
extern "C" __attribute__((weak, visibility("default"))) const fanout_plugin* fanout_plugin_v1() {
  fanout::sdk_detail::Registry& r = fanout::sdk_detail::GetRegistry();
  r.table.abi_version = FANOUT_PLUGIN_ABI_VERSION;
  r.table.count = static_cast<uint32_t>(r.entries.size());
  r.table.entries = r.entries.data();
  return &r.table;
}
extern "C" __attribute__((weak, visibility("default"))) const char* const* fanout_plugin_signatures_v1() {
  fanout::sdk_detail::Registry& r = fanout::sdk_detail::GetRegistry();
  r.signature_ptrs.clear();
  for (const std::string& s : r.signatures) r.signature_ptrs.push_back(s.c_str());
  return r.signature_ptrs.data();
}
#endif

#define FANOUT_SDK_CONCAT_INNER(a, b) a##b
#define FANOUT_SDK_CONCAT(a, b) FANOUT_SDK_CONCAT_INNER(a, b)

// Registers `function` as the task function `name` (an identifier, used as the spec's
// `function:`). Use at namespace scope, once per name.
#define FANOUT_TASK(name, function)                                                              \
  static ::fanout::sdk_detail::Registrar FANOUT_SDK_CONCAT(fanout_task_registrar_, __COUNTER__)( \
      #name, &::fanout::sdk_detail::Invoke<&function>, ::fanout::sdk_detail::Signature<&function>())
