// HttpServer: HTTP on the coordinator (DESIGN §1, §7): the status page, the JSON API, the
// Prometheus metrics and the health probes, served by cpp-httplib on threads of its own.
//
//   GET /                                                     the page (status_page.html)
//   GET /healthz                                              200 while the event loop turns
//   GET /readyz                                               200 when ready and Redis is up
//   GET /metrics                                              Prometheus text (metrics.h)
//   GET /api/v1/executions[?phase=P]                          LIST (`fanout list -o json`)
//   GET /api/v1/executions/E                                  STATUS (`fanout status E -o json`)
//   GET /api/v1/executions/E/outputs                          OUTPUTS (`fanout outputs E -o json`)
//   GET /api/v1/executions/E/nodes/N/subtasks[?offset&limit&phase]   SUBTASKS (status_doc.h)
//   GET /api/v1/executions/E/nodes/N/subtasks/I               SUBTASK (status_doc.h)
//   GET /api/v1/executions/E/nodes/N/subtasks/I/log[?attempt=K]      LOGS (`fanout logs -o json`)
//   GET /api/v1/workers                                       WORKERS (`fanout workers -o json`)
//
// Threads: the handlers run on httplib's pool and reach the coordinator only through an
// HttpBackendInterface (http_backend.h), never a room. Errors are JSON {"error": MESSAGE} with
// 400 (bad request), 401 (token), 404 (unknown), 503 (not ready / stopping), 504 (the loop did
// not answer in time).
//
// Access: with a token, every path except /, /healthz and /readyz needs the header
// `Authorization: Bearer TOKEN` (the page itself holds no data; it asks for the token).
// Whether a bind needs a token is decided by CheckHttpBind below.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/status.h"
#include "coordinator/http_backend.h"

namespace httplib {
class Server;
struct Response;
}

namespace fanout {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 0;        // 0: a free port
  std::string token;   // "" : no token asked
  int threads = 4;
};

// "none" → nullopt (HTTP off). "HOST:PORT", ":PORT" (loopback), "[::1]:PORT". Errors name the flag.
Result<std::optional<HttpOptions>> ParseHttpBind(const std::string& bind);
// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);
// A bind beyond loopback must come with a token (DESIGN §7): else an InvalidArgument that says
// how to give one.
Status CheckHttpBind(const HttpOptions& o);

class HttpServer {
 public:
  // `backend` must outlive the server.
  HttpServer(HttpBackendInterface& backend, HttpOptions options);
  // Stops and joins.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds (synchronously: a taken port is an error here) and starts serving on its thread.
  Status Start();
  // Stops serving and joins the thread. Idempotent.
  void Stop();
  int port() const { return port_; }
  const std::string& host() const { return options_.host; }
  // "http://HOST:PORT" (IPv6 hosts in brackets).
  std::string url() const;

 private:
  void Routes();
  // Asks the loop `q` and sends its answer as JSON.
  void Answer(httplib::Response& res, HttpQuery q);
  void Guards();
  void ProbeRoutes();
  void ExecutionRoutes();
  void SubtaskRoutes();

  HttpBackendInterface& backend_;
  HttpOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace fanout
