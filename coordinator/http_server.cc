#include "coordinator/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <future>
#include <nlohmann/json.hpp>

#include "generated/status_page.inc"  // kStatusPage: coordinator/status_page.html, embedded

namespace fanout {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;

// How long a handler waits for the loop to answer a query.
constexpr milliseconds kAskTimeout{10'000};
// Snapshots (metrics, probes) at most this old are served as they are.
constexpr milliseconds kSnapshotMaxAge{1000};
constexpr milliseconds kSnapshotWait{2000};
// /healthz fails when the loop has not produced a snapshot for this long.
constexpr auto kLoopStale = std::chrono::seconds(5);

void SendJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

void SendError(httplib::Response& res, int status, const std::string& message) {
  SendJson(res, status, Json{{"error", message}}.dump());
}

HttpQuery Query(HttpQuery::Kind kind) {
  HttpQuery q;
  q.kind = kind;
  return q;
}

// Runs q on the loop and waits for its answer.
HttpAnswer AskAndWait(HttpBackendInterface& backend, HttpQuery q) {
  auto promise = std::make_shared<std::promise<HttpAnswer>>();
  std::future<HttpAnswer> answer = promise->get_future();
  backend.Ask(std::move(q), [promise](HttpAnswer a) { promise->set_value(std::move(a)); });
  if (answer.wait_for(kAskTimeout) != std::future_status::ready)
    return HttpAnswer{504, Json{{"error", "the coordinator did not answer within 10 s"}}.dump()};
  return answer.get();
}

Result<uint64_t> ParseUint(const std::string& text, const char* what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return Err(InvalidArgument(std::string(what) + ": expected a non-negative integer, got '" + text + "'"));
  return v;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

Result<std::optional<HttpOptions>> ParseHttpBind(const std::string& bind) {
  if (bind == "none") return std::optional<HttpOptions>();
  HttpOptions o;
  std::string host, port;
  if (bind.starts_with("[")) {
    auto close = bind.find("]:");
    if (close == std::string::npos)
      return Err(InvalidArgument("--http-bind: expected [IPV6]:PORT, got '" + bind + "'"));
    host = bind.substr(1, close - 1);
    port = bind.substr(close + 2);
  } else {
    auto colon = bind.rfind(':');
    if (colon == std::string::npos)
      return Err(InvalidArgument("--http-bind: expected HOST:PORT or 'none', got '" + bind + "'"));
    host = bind.substr(0, colon);
    port = bind.substr(colon + 1);
  }
  if (host.empty()) host = "127.0.0.1";
  if (host == "*") host = "0.0.0.0";
  auto p = ParseUint(port, "--http-bind port");
  if (!p || *p > 65535) return Err(InvalidArgument("--http-bind: bad port in '" + bind + "'"));
  o.host = host;
  o.port = static_cast<int>(*p);
  return std::optional<HttpOptions>(o);
}

Status CheckHttpBind(const HttpOptions& o) {
  if (IsLoopbackHost(o.host) || !o.token.empty()) return Status::Ok();
  return InvalidArgument("--http-bind " + o.host + ":" + std::to_string(o.port) +
                         " is reachable beyond this host: give a bearer token with --http-token-file FILE "
                         "(or FANOUT_HTTP_TOKEN), or bind 127.0.0.1 (DESIGN §7)");
}

HttpServer::HttpServer(HttpBackendInterface& backend, HttpOptions options)
    : backend_(backend), options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() { Stop(); }

std::string HttpServer::url() const {
  std::string host = options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host;
  return "http://" + host + ":" + std::to_string(port_);
}

Status HttpServer::Start() {
  if (Status s = CheckHttpBind(options_); !s.ok()) return s;
  int threads = std::max(1, options_.threads);
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server_->set_keep_alive_max_count(100);
  server_->set_read_timeout(std::chrono::seconds(10));
  server_->set_write_timeout(std::chrono::seconds(10));
  server_->set_payload_max_length(64 << 10);  // GET only: nothing large comes in
  // httplib's default sets SO_REUSEPORT, with which a second coordinator binds the same port
  // and the kernel splits the connections between the two: a taken port must be an error
  // (or the fallback to a free one), so only SO_REUSEADDR (restart over TIME_WAIT).
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  Routes();
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
    if (port_ <= 0) return Unavailable("--http-bind: cannot bind " + options_.host + " on any port");
  } else {
    if (!server_->bind_to_port(options_.host, options_.port))
      return Unavailable("--http-bind: cannot bind " + options_.host + ":" + std::to_string(options_.port) +
                         " (in use, or not an address of this host)");
    port_ = options_.port;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::Ok();
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  // stop() is a no-op until listen_after_bind has started running: wait for it.
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) std::this_thread::sleep_for(milliseconds(1));
  server_->stop();
  thread_.join();
}

void HttpServer::Answer(httplib::Response& res, HttpQuery q) {
  HttpAnswer a = AskAndWait(backend_, std::move(q));
  SendJson(res, a.status, a.body);
}

void HttpServer::Routes() {
  Guards();
  ProbeRoutes();
  ExecutionRoutes();
  SubtaskRoutes();
}

// The bearer token (every path but the page and the probes), and errors as JSON.
void HttpServer::Guards() {
  httplib::Server& s = *server_;
  s.set_pre_routing_handler([token = options_.token](const httplib::Request& req, httplib::Response& res) {
    if (token.empty() || req.path == "/" || req.path == "/healthz" || req.path == "/readyz")
      return httplib::Server::HandlerResponse::Unhandled;
    std::string auth = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.starts_with(kBearer) && ConstantTimeEquals(std::string_view(auth).substr(kBearer.size()), token))
      return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer");
    SendError(res, 401, "this coordinator asks for a bearer token: Authorization: Bearer TOKEN");
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SendError(res, 500, what);
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) SendError(res, res.status, "no such resource: " + req.path);
  });
}

// The page, the probes and /metrics.
void HttpServer::ProbeRoutes() {
  httplib::Server& s = *server_;
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(kStatusPage), "text/html; charset=utf-8");
  });

  s.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    auto snap = backend_.Snapshot(kSnapshotMaxAge, kSnapshotWait);
    if (!snap || std::chrono::steady_clock::now() - snap->taken > kLoopStale) {
      res.status = 503;
      res.set_content("the coordinator's event loop is not answering\n", "text/plain");
      return;
    }
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    auto snap = backend_.Snapshot(kSnapshotMaxAge, kSnapshotWait);
    std::string why;
    if (!snap || std::chrono::steady_clock::now() - snap->taken > kLoopStale) {
      why = "the coordinator's event loop is not answering";
    } else if (!snap->redis) {
      why = "redis is not connected";
    } else if (!snap->ready) {
      why = "loading executions";
    }
    res.status = why.empty() ? 200 : 503;
    res.set_content(why.empty() ? "ready\n" : why + "\n", "text/plain");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    auto snap = backend_.Snapshot(kSnapshotMaxAge, kSnapshotWait);
    if (!snap) return SendError(res, 503, "the coordinator's event loop is not answering");
    res.set_content(snap->metrics, "text/plain; version=0.0.4; charset=utf-8");
  });
}

// Executions, their status, nodes and outputs, and the workers.
void HttpServer::ExecutionRoutes() {
  httplib::Server& s = *server_;

  s.Get("/api/v1/executions", [this](const httplib::Request& req, httplib::Response& res) {
    HttpAnswer a = AskAndWait(backend_, Query(HttpQuery::kList));
    if (a.status != 200 || !req.has_param("phase")) return SendJson(res, a.status, a.body);
    std::string want = Upper(req.get_param_value("phase"));
    Json doc = Json::parse(a.body, nullptr, false);
    if (!doc.is_object() || !doc.contains("executions")) return SendJson(res, a.status, a.body);
    Json kept = Json::array();
    for (const Json& e : doc["executions"])
      if (e.is_object() && e.value("phase", "") == want) kept.push_back(e);
    doc["executions"] = std::move(kept);
    SendJson(res, 200, doc.dump());
  });
  s.Get(R"(/api/v1/executions/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    HttpQuery q = Query(HttpQuery::kStatus);
    q.exec = req.matches[1];
    Answer(res, std::move(q));
  });
  // One node of the status document (phase, size, counts, waiting reason, failures).
  s.Get(R"(/api/v1/executions/([^/]+)/nodes/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    HttpQuery q = Query(HttpQuery::kStatus);
    q.exec = req.matches[1];
    HttpAnswer a = AskAndWait(backend_, std::move(q));
    if (a.status != 200) return SendJson(res, a.status, a.body);
    Json doc = Json::parse(a.body, nullptr, false);
    for (const Json& node : doc.is_object() ? doc.value("nodes", Json::array()) : Json::array())
      if (node.is_object() && node.value("id", "") == req.matches[2].str()) return SendJson(res, 200, node.dump());
    SendError(res, 404, "execution " + req.matches[1].str() + " has no node '" + req.matches[2].str() + "'");
  });
  s.Get(R"(/api/v1/executions/([^/]+)/outputs)", [this](const httplib::Request& req, httplib::Response& res) {
    HttpQuery q = Query(HttpQuery::kOutputs);
    q.exec = req.matches[1];
    Answer(res, std::move(q));
  });
  s.Get("/api/v1/workers", [this](const httplib::Request&, httplib::Response& res) {
    Answer(res, Query(HttpQuery::kWorkers));
  });
}

// A node's subtasks (a page of them, or one), and an attempt's log.
void HttpServer::SubtaskRoutes() {
  httplib::Server& s = *server_;

  s.Get(R"(/api/v1/executions/([^/]+)/nodes/([^/]+)/subtasks)",
        [this](const httplib::Request& req, httplib::Response& res) {
          HttpQuery q = Query(HttpQuery::kSubtasks);
          q.exec = req.matches[1];
          q.node = req.matches[2];
          if (req.has_param("offset")) {
            auto v = ParseUint(req.get_param_value("offset"), "offset");
            if (!v) return SendError(res, 400, v.error().message());
            q.offset = *v;
          }
          if (req.has_param("limit")) {
            auto v = ParseUint(req.get_param_value("limit"), "limit");
            if (!v) return SendError(res, 400, v.error().message());
            q.limit = *v;
          }
          if (req.has_param("phase")) {
            q.phase = ParseSubtaskPhase(req.get_param_value("phase"));
            if (!q.phase)
              return SendError(res, 400,
                               "phase: expected queued, running, retrying, succeeded, failed, aborted or "
                               "waiting_for_cache, got '" + req.get_param_value("phase") + "'");
          }
          Answer(res, std::move(q));
        });
  auto subtask = [](const httplib::Request& req, httplib::Response& res, HttpQuery& q) {
    q.exec = req.matches[1];
    q.node = req.matches[2];
    auto index = ParseUint(req.matches[3], "index");
    if (!index || *index > UINT32_MAX) {
      SendError(res, 400, "index: expected a subtask index, got '" + std::string(req.matches[3]) + "'");
      return false;
    }
    q.index = static_cast<uint32_t>(*index);
    return true;
  };
  s.Get(R"(/api/v1/executions/([^/]+)/nodes/([^/]+)/subtasks/([^/]+))",
        [this, subtask](const httplib::Request& req, httplib::Response& res) {
          HttpQuery q = Query(HttpQuery::kSubtask);
          if (subtask(req, res, q)) Answer(res, std::move(q));
        });
  s.Get(R"(/api/v1/executions/([^/]+)/nodes/([^/]+)/subtasks/([^/]+)/log)",
        [this, subtask](const httplib::Request& req, httplib::Response& res) {
          HttpQuery q = Query(HttpQuery::kLogs);
          if (!subtask(req, res, q)) return;
          if (req.has_param("attempt")) {
            auto a = ParseUint(req.get_param_value("attempt"), "attempt");
            if (!a || *a > 0x3f) return SendError(res, 400, "attempt: expected 0 to 63");
            q.attempt = static_cast<int64_t>(*a);
          }
          Answer(res, std::move(q));
        });
}

}  // namespace fanout
