// RedisClient: hiredis' async API driven by the libuv loop, with owned replies and
// reconnection. Commands are built from argv (never by formatting user data into text).
//
// Contract: callbacks run on the loop thread, exactly once per command, and never inside the
// call that issued it. While the client is disconnected, Command fails with kUnavailable (on
// the next loop turn); the client reconnects by itself with exponential backoff and reports
// state changes through on_state. Shutdown (or destruction) fails every pending command.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/uv_handle.h"

struct redisAsyncContext;
struct redisReply;

namespace fanout {

// An owned copy of a redisReply.
struct RedisReply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<RedisReply> elements;

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
  static RedisReply From(const redisReply* r);
};

class RedisClient {
 public:
  using Callback = std::function<void(Result<RedisReply>)>;
  using OnState = std::function<void(bool connected)>;

  // user: an ACL user (AUTH user password); "" authenticates as the default user.
  RedisClient(uv_loop_t* loop, std::string host, int port, std::string password = "", std::string user = "");
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  void Start(OnState on_state);
  // Disconnects for good: pending commands fail now (their callbacks run inside this call),
  // later ones fail on the next loop turn. Idempotent.
  void Shutdown();
  bool connected() const { return connected_; }
  const std::string& address() const { return address_; }

  // Sends one command. A Redis error reply arrives as Result with kInternal and its text.
  void Command(const std::vector<std::string>& argv, Callback cb);
  // Commands still waiting for their reply.
  size_t pending() const { return pending_; }

 private:
  struct Pending;
  void Connect();
  void ScheduleReconnect();
  static void OnConnect(const redisAsyncContext* c, int status);
  static void OnDisconnect(const redisAsyncContext* c, int status);
  static void OnReply(redisAsyncContext* c, void* reply, void* privdata);
  // Sends on the current connection whether or not it is ready (the handshake's own commands).
  void Send(const std::vector<std::string>& argv, Callback cb);
  // After the TCP connect: AUTH when a password is set, then PING until the answer is PONG.
  // A restarted Redis answers -LOADING while it reads its AOF, and would refuse every command
  // sent meanwhile; the connection counts as up (on_state(true)) only after the PONG.
  void Handshake();
  void PingUntilReady();
  // Abandons the connection and retries if it is not up (or the handshake's current command not
  // answered) within 2 s.
  void StartConnectTimer();

  uv_loop_t* loop_;
  std::string host_;
  int port_;
  std::string password_;
  std::string user_;
  std::string address_;
  redisAsyncContext* ctx_ = nullptr;
  bool connected_ = false;
  bool stopping_ = false;
  int64_t backoff_ms_ = 100;
  size_t pending_ = 0;
  OnState on_state_;
  UvHandle<uv_timer_t> reconnect_timer_;
  // hiredis 0.14's libuv adapter ignores a failed connect (the poll callback returns on an
  // error status), so a connect that has not succeeded in time is abandoned and retried.
  UvHandle<uv_timer_t> connect_timer_;
  UvHandle<uv_timer_t> ready_timer_;  // the next readiness PING while Redis is loading
  uint64_t conn_gen_ = 0;             // bumped per connection: stale callbacks ignore themselves
  uint64_t loading_logged_gen_ = 0;   // the connection whose LOADING wait was logged
  // A PING every second; a connection that leaves one unanswered for 5 s is dropped and
  // re-established (a peer that vanished without a FIN would otherwise hang us for good).
  UvHandle<uv_timer_t> ping_timer_;
  bool ping_pending_ = false;
  uint64_t ping_sent_ms_ = 0;
  void OnPingTimer();
  void ForceReconnect(const char* why);
  // Runs `cb` with `error` on the next loop turn.
  void FailLater(Callback cb, Status error);
  UvHandle<uv_idle_t> deferred_idle_;
  std::vector<std::pair<Callback, Status>> deferred_;
  bool callbacks_dropped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace fanout
