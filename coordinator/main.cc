// fanout-coordinator: the coordinator daemon. Flags > FANOUT_* environment > defaults.
#include <CLI/CLI.hpp>
#include <unistd.h>
#include <uv.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "common/home.h"
#include "common/log.h"
#include "coordinator/coordinator.h"
#include "coordinator/http_server.h"

namespace {

// A secret kept in a file (a Redis password, an HTTP token): its first line without trailing
// blanks. nullopt when the file cannot be read or that line is empty.
std::optional<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  if (line.empty()) return std::nullopt;
  return line;
}

// The flags' values before they are checked and turned into the configuration.
struct Flags {
  fanout::CoordinatorConfig cfg;
  std::string bind;
  std::string redis = "127.0.0.1:6379";
  std::string redis_password_file;
  std::string http_bind;
  std::string http_token_file;
  std::string log_level = "info";
};

// Where it listens, who may connect, and Redis.
void AddConnectionFlags(CLI::App& app, Flags& f) {
  app.add_option("--bind", f.bind,
                 "ZeroMQ endpoint for workers and clients (tcp://HOST:PORT; port * picks one). Default:\n"
                 "tcp://*:7800 with keys, tcp://127.0.0.1:7800 without; without keys a non-loopback\n"
                 "address is refused unless --insecure")
      ->envname("FANOUT_BIND");
  app.add_option("--keys-dir", f.cfg.keys_dir,
                 "CurveZMQ key directory: server.key, clients/*.pub, workers/*.pub (`fanout keygen`);\n"
                 "default: $FANOUT_HOME/keys when it holds server.key, else no keys")
      ->envname("FANOUT_KEYS_DIR");
  app.add_flag("--insecure", f.cfg.insecure,
               "allow a non-loopback bind without keys: anyone who reaches the port can run commands\n"
               "on every worker")
      ->envname("FANOUT_INSECURE");
  app.add_option("--events-bind", f.cfg.events_bind,
                 "ZeroMQ endpoint of the progress event socket (XPUB) that `fanout run`/`watch` follow;\n"
                 "default: --bind's host with a free port; 'none' turns events off")
      ->envname("FANOUT_EVENTS_BIND");
  app.add_option("--redis", f.redis, "Redis address HOST:PORT")->envname("FANOUT_REDIS")->capture_default_str();
  // The password comes from the environment or a file: an argv is visible to every user in ps.
  app.add_option("--redis-password-file", f.redis_password_file,
                 "file holding the Redis AUTH password (its first line); or set FANOUT_REDIS_PASSWORD")
      ->envname("FANOUT_REDIS_PASSWORD_FILE");
  app.add_option("--redis-user", f.cfg.redis_user, "Redis ACL user (docs/security.md: least privileges)")
      ->envname("FANOUT_REDIS_USER");
  app.add_option("--endpoint-file", f.cfg.endpoint_file, "write the bound endpoint to this file when ready")
      ->envname("FANOUT_ENDPOINT_FILE");
  app.add_option("--http-bind", f.http_bind,
                 "HOST:PORT of the page, the JSON API (/api/v1), /metrics, /healthz and /readyz; 'none' turns\n"
                 "HTTP off. Default 127.0.0.1:7880 (a free port, logged, when 7880 is taken). A host beyond\n"
                 "loopback needs --http-token-file or FANOUT_HTTP_TOKEN")
      ->envname("FANOUT_HTTP_BIND");
  app.add_option("--http-token-file", f.http_token_file,
                 "file holding the bearer token HTTP clients must send (Authorization: Bearer TOKEN);\n"
                 "/healthz, /readyz and the page itself need none. Env FANOUT_HTTP_TOKEN gives the token itself")
      ->envname("FANOUT_HTTP_TOKEN_FILE");
}

// Liveness, retries, batching, checkpoints, logs.
void AddRunFlags(CLI::App& app, Flags& f) {
  app.add_option("--heartbeat-ms", f.cfg.core.heartbeat_ms, "heartbeat interval with workers")
      ->envname("FANOUT_HEARTBEAT_MS")
      ->check(CLI::Range(50, 600000))
      ->capture_default_str();
  app.add_option("--liveness", f.cfg.core.liveness, "missed heartbeats before a worker is declared lost")
      ->envname("FANOUT_LIVENESS")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--system-retries", f.cfg.core.system_retries, "per-subtask retries of system errors (worker lost)")
      ->envname("FANOUT_SYSTEM_RETRIES")
      ->check(CLI::Range(0, 15))
      ->capture_default_str();
  app.add_option("--max-batch", f.cfg.core.max_batch, "subtasks per WORK message")
      ->envname("FANOUT_MAX_BATCH")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  app.add_option("--max-worker-slots", f.cfg.core.max_worker_slots,
                 "the most slots a worker may announce; larger HELLOs are capped")
      ->envname("FANOUT_MAX_WORKER_SLOTS")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  app.add_option("--deadline-grace-ms", f.cfg.core.deadline_grace_ms,
                 "an attempt with a timeout that has not reported this long after it is given up\n"
                 "by the coordinator (its worker may be hung) and re-run as a system retry")
      ->envname("FANOUT_DEADLINE_GRACE_MS")
      ->check(CLI::Range(int64_t{0}, int64_t{24} * 3600 * 1000))
      ->capture_default_str();
  app.add_option("--max-checkpoint-bytes", f.cfg.core.max_checkpoint_bytes,
                 "largest checkpoint kept per subtask; a larger one fails the attempt")
      ->envname("FANOUT_MAX_CHECKPOINT_BYTES")
      ->capture_default_str();
  app.add_flag("--keep-checkpoints", f.cfg.core.keep_checkpoints,
               "keep subtask checkpoints in Redis after their execution ends")
      ->envname("FANOUT_KEEP_CHECKPOINTS");
  app.add_option("--log-ttl-s", f.cfg.core.log_ttl_s, "seconds that attempt logs (`fanout logs`) stay in Redis")
      ->envname("FANOUT_LOG_TTL_S")
      ->check(CLI::Range(int64_t{1}, int64_t{10} * 365 * 24 * 3600))
      ->capture_default_str();
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error")
      ->envname("FANOUT_LOG_LEVEL")
      ->capture_default_str();
}

// Caps on the work a client may ask for (docs/security.md).
void AddLimitFlags(CLI::App& app, Flags& f) {
  app.add_option("--max-node-elements", f.cfg.core.limits.max_node_elements,
                 "the most subtasks of one map node (children of a map over a launch plan); a longer\n"
                 "list input is refused at submission, a longer list made upstream fails the node")
      ->envname("FANOUT_MAX_NODE_ELEMENTS")
      ->check(CLI::Range(uint64_t{1}, uint64_t{UINT32_MAX}))
      ->capture_default_str();
  app.add_option("--max-execution-elements", f.cfg.core.limits.max_execution_elements,
                 "the most subtasks of all the map nodes of one execution together")
      ->envname("FANOUT_MAX_EXECUTION_ELEMENTS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-executions", f.cfg.core.limits.max_executions,
                 "the most top-level executions running at once; a submission beyond it is refused")
      ->envname("FANOUT_MAX_EXECUTIONS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

// Fills f.cfg from the Redis and bind flags; an exit code (2) when one is wrong.
std::optional<int> ResolveConnection(Flags& f) {
  if (!f.redis_password_file.empty()) {
    std::optional<std::string> password = ReadSecretFile(f.redis_password_file);
    if (!password) {
      std::fprintf(stderr, "fanout-coordinator: --redis-password-file: cannot read a password from '%s'\n",
                   f.redis_password_file.c_str());
      return 2;
    }
    f.cfg.redis_password = std::move(*password);
  } else if (const char* pw = std::getenv("FANOUT_REDIS_PASSWORD"); pw != nullptr) {
    f.cfg.redis_password = pw;
  }
  if (std::string home = fanout::FanoutHomeFromEnv(); f.cfg.keys_dir.empty() && !home.empty()) {
    std::string dir = home + "/keys";
    if (access((dir + "/server.key").c_str(), F_OK) == 0) f.cfg.keys_dir = dir;
  }
  f.cfg.bind = !f.bind.empty() ? f.bind : f.cfg.keys_dir.empty() ? "tcp://127.0.0.1:7800" : "tcp://*:7800";
  auto colon = f.redis.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "fanout-coordinator: --redis: expected HOST:PORT, got '%s'\n", f.redis.c_str());
    return 2;
  }
  f.cfg.redis_host = f.redis.substr(0, colon);
  f.cfg.redis_port = std::atoi(f.redis.c_str() + colon + 1);
  if (f.cfg.redis_port <= 0 || f.cfg.redis_port > 65535) {
    std::fprintf(stderr, "fanout-coordinator: --redis: bad port in '%s'\n", f.redis.c_str());
    return 2;
  }
  return std::nullopt;
}

// Fills f.cfg.http from the HTTP flags; an exit code (2) when one is wrong.
std::optional<int> ResolveHttp(Flags& f) {
  if (!f.http_bind.empty()) {
    auto http = fanout::ParseHttpBind(f.http_bind);
    if (!http) {
      std::fprintf(stderr, "fanout-coordinator: %s\n", http.error().message().c_str());
      return 2;
    }
    f.cfg.http = *http;
    f.cfg.http_port_fallback = false;  // a port asked for is that port or an error
  }
  if (f.cfg.http) {
    if (!f.http_token_file.empty()) {
      std::optional<std::string> token = ReadSecretFile(f.http_token_file);
      if (!token) {
        std::fprintf(stderr, "fanout-coordinator: --http-token-file: cannot read a token from '%s'\n",
                     f.http_token_file.c_str());
        return 2;
      }
      f.cfg.http->token = std::move(*token);
    } else if (const char* t = std::getenv("FANOUT_HTTP_TOKEN"); t != nullptr && *t != '\0') {
      f.cfg.http->token = t;
    }
    if (fanout::Status s = fanout::CheckHttpBind(*f.cfg.http); !s.ok()) {
      std::fprintf(stderr, "fanout-coordinator: %s\n", s.message().c_str());
      return 2;
    }
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{
      "fanout-coordinator: shards map tasks into work for fanout workers and keeps every piece\n"
      "of state that must survive a crash in Redis. Workers and clients connect to --bind."};
  AddConnectionFlags(app, f);
  AddRunFlags(app, f);
  AddLimitFlags(app, f);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (auto rc = ResolveConnection(f)) return *rc;
  if (auto rc = ResolveHttp(f)) return *rc;
  fanout::InitLogging("coordinator", f.log_level);
  uv_loop_t* loop = uv_default_loop();
  fanout::SystemClock clock;
  int rc;
  {
    fanout::Coordinator coordinator(loop, f.cfg, clock);
    coordinator.Start();
    uv_run(loop, UV_RUN_DEFAULT);
    rc = coordinator.exit_code();
  }
  // Let the handles' close callbacks run.
  uv_run(loop, UV_RUN_NOWAIT);
  return rc;
}
