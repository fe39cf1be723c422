#include "cli/client.h"

#include <cerrno>
#include <random>
#include <vector>

#include <fmt/format.h>

namespace fanout::cli {

namespace {

using Clock = std::chrono::steady_clock;

// A slice of the wait, so the interrupt flag is seen even if no signal interrupts zmq_poll.
constexpr auto kPollSlice = std::chrono::milliseconds(100);

// The frames of one message that is ready to be read.
std::vector<zmq::message_t> RecvFrames(zmq::socket_t& sock) {
  std::vector<zmq::message_t> frames;
  while (true) {
    zmq::message_t m;
    if (!sock.recv(m, zmq::recv_flags::dontwait)) break;
    bool more = m.more();
    frames.push_back(std::move(m));
    if (!more) break;
  }
  return frames;
}

}  // namespace

std::string UnreachableMessage(const std::string& address, std::chrono::milliseconds timeout) {
  return fmt::format(
      "cannot reach the coordinator at {} (no answer within {}). Is it running? Set "
      "--coordinator or FANOUT_COORDINATOR, or unset both to use a local cluster.",
      address, FormatDurationMs(timeout.count()));
}

std::string NormalizeAddress(const std::string& address) {
  if (address.find("://") != std::string::npos) return address;
  return "tcp://" + address;
}

Client::Client(std::string address, std::chrono::milliseconds timeout)
    : address_(NormalizeAddress(address)), timeout_(timeout), ctx_(1), sock_(ctx_, zmq::socket_type::dealer) {
  std::random_device rd;
  // Start rids at a random point so two clients reusing an identity never confuse replies.
  next_rid_ = (static_cast<uint64_t>(rd()) << 32 | rd()) & 0x7fffffffffffffffULL;
  sock_.set(zmq::sockopt::linger, 0);
  try {
    sock_.connect(address_);
  } catch (const zmq::error_t& e) {
    connect_error_ = InvalidArgument(fmt::format("bad coordinator address '{}': {}", address_, e.what()));
  }
}

Result<Json> Client::Submit(wire::SubmitRequest req) {
  req.rid = next_rid_++;
  return Call(wire::Kind::kSubmit, req.rid, wire::EncodeBody(req));
}

Result<Json> Client::Query(wire::Kind kind, const std::string& exec, bool children) {
  wire::QueryRequest req{next_rid_++, exec, children};
  return Call(kind, req.rid, wire::EncodeBody(req));
}

Result<Json> Client::Update(wire::UpdateRequest req) {
  req.rid = next_rid_++;
  return Call(wire::Kind::kUpdate, req.rid, wire::EncodeBody(req));
}

Result<Json> Client::Logs(const std::string& exec, const std::string& node, uint32_t index,
                          int64_t attempt) {
  wire::LogsRequest req{next_rid_++, exec, node, index, attempt};
  return Call(wire::Kind::kLogs, req.rid, wire::EncodeBody(req));
}

Result<Json> Client::CacheClear(const std::string& task, const std::string& version) {
  wire::CacheClearRequest req{next_rid_++, task, version};
  return Call(wire::Kind::kCacheClear, req.rid, wire::EncodeBody(req));
}

Result<Json> Client::Call(wire::Kind kind, uint64_t rid, const std::string& body) {
  if (!connect_error_.ok()) return Err(connect_error_);
  try {
    std::string header = wire::Header(kind);
    // A DEALER with no connected peer blocks on send; don't: the message is queued for the
    // pending connection (the address is connect()ed), and an unanswered request times out.
    if (!sock_.send(zmq::buffer(header), zmq::send_flags::sndmore | zmq::send_flags::dontwait) ||
        !sock_.send(zmq::buffer(body), zmq::send_flags::dontwait)) {
      return Err(Unavailable(UnreachableMessage(address_, timeout_)));
    }
    Clock::time_point deadline = Clock::now() + timeout_;
    while (true) {
      if (interrupt_ != nullptr && *interrupt_ != 0) return Err(Status(Code::kAborted, "interrupted"));
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return Err(Unavailable(UnreachableMessage(address_, timeout_)));
      zmq_pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
      int rc = zmq_poll(&item, 1, std::min(left, std::chrono::milliseconds(kPollSlice)).count());
      if (rc < 0) {
        if (zmq_errno() == EINTR) continue;
        return Err(Unavailable(std::string("zmq_poll: ") + zmq_strerror(zmq_errno())));
      }
      if (rc == 0) continue;
      std::vector<zmq::message_t> frames = RecvFrames(sock_);
      if (frames.size() < 2) continue;  // not a reply we understand; drop it
      Result<wire::Kind> k = wire::ParseHeader(frames[0].to_string_view());
      if (!k || *k != wire::Kind::kReply) continue;
      Result<wire::Reply> reply = wire::DecodeBody<wire::Reply>(frames[1].to_string_view());
      if (!reply || reply->rid != rid) continue;  // stale or foreign: keep waiting
      if (reply->code != 0) {
        Code code = reply->code <= static_cast<uint8_t>(Code::kInternal) ? static_cast<Code>(reply->code)
                                                                         : Code::kInternal;
        // The CLI reserves kAborted for Ctrl-C; a coordinator's kAborted is an ordinary failure.
        if (code == Code::kAborted) code = Code::kFailedPrecondition;
        std::string msg = reply->error.empty() ? std::string(CodeName(code)) : reply->error;
        return Err(Status(code, msg));
      }
      Json doc = Json::parse(reply->json, nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded()) return Err(Internal("malformed reply from the coordinator (not JSON)"));
      return doc;
    }
  } catch (const zmq::error_t& e) {
    return Err(Unavailable(fmt::format("coordinator at {}: {}", address_, e.what())));
  }
}

std::string EventsAddress(const std::string& coordinator_address, int port) {
  std::string a = NormalizeAddress(coordinator_address);
  auto colon = a.rfind(':');
  if (!a.starts_with("tcp://") || colon == std::string::npos || colon < 6) return "";
  return a.substr(0, colon + 1) + std::to_string(port);
}

ProgressSubscription::ProgressSubscription(const std::string& coordinator_address, int port,
                                           std::string exec)
    : port_(port), exec_(std::move(exec)), ctx_(1), sock_(ctx_, zmq::socket_type::sub) {
  sock_.set(zmq::sockopt::linger, 0);
  sock_.set(zmq::sockopt::subscribe, exec_);
  std::string at = EventsAddress(coordinator_address, port);
  try {
    if (!at.empty()) sock_.connect(at);
  } catch (const zmq::error_t&) {
    // No events then: Next() times out and the caller reads STATUS.
  }
}

std::optional<Json> ProgressSubscription::Next(std::chrono::milliseconds timeout) {
  Clock::time_point deadline = Clock::now() + timeout;
  try {
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      zmq_pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
      int rc = zmq_poll(&item, 1, std::min(left, std::chrono::milliseconds(kPollSlice)).count());
      if (rc < 0) return std::nullopt;  // EINTR: let the caller look at its flag
      if (rc == 0) continue;
      std::vector<zmq::message_t> frames = RecvFrames(sock_);
      // Subscriptions match prefixes: "e1" also receives "e12"'s events.
      if (frames.size() != 3 || frames[0].to_string_view() != exec_) continue;
      Result<wire::Kind> k = wire::ParseHeader(frames[1].to_string_view());
      if (!k || *k != wire::Kind::kProgress) continue;
      Result<wire::ProgressEvent> ev = wire::DecodeBody<wire::ProgressEvent>(frames[2].to_string_view());
      if (!ev) continue;
      Json doc = Json::parse(ev->json, nullptr, /*allow_exceptions=*/false);
      if (doc.is_object()) return doc;
    }
  } catch (const zmq::error_t&) {
    return std::nullopt;
  }
}

}  // namespace fanout::cli
