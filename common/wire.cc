#include "common/wire.h"

namespace fanout::wire {

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kHello: return "HELLO";
    case Kind::kResult: return "RESULT";
    case Kind::kHeartbeat: return "HEARTBEAT";
    case Kind::kBye: return "BYE";
    case Kind::kCheckpoint: return "CHECKPOINT";
    case Kind::kWork: return "WORK";
    case Kind::kAck: return "ACK";
    case Kind::kAbort: return "ABORT";
    case Kind::kWelcome: return "WELCOME";
    case Kind::kReconnect: return "RECONNECT";
    case Kind::kSubmit: return "SUBMIT";
    case Kind::kStatus: return "STATUS";
    case Kind::kOutputs: return "OUTPUTS";
    case Kind::kList: return "LIST";
    case Kind::kWorkers: return "WORKERS";
    case Kind::kHealth: return "HEALTH";
    case Kind::kAbortExec: return "ABORT_EXEC";
    case Kind::kRecover: return "RECOVER";
    case Kind::kCacheClear: return "CACHE_CLEAR";
    case Kind::kLogs: return "LOGS";
    case Kind::kReply: return "REPLY";
    case Kind::kProgress: return "PROGRESS";
    case Kind::kUpdate: return "UPDATE";
    case Kind::kStarted: return "STARTED";
  }
  return "?";
}

bool IsWorkerKind(Kind k) {
  return k == Kind::kHello || k == Kind::kResult || k == Kind::kHeartbeat || k == Kind::kBye ||
         k == Kind::kCheckpoint || k == Kind::kStarted;
}

bool IsClientKind(Kind k) {
  return (static_cast<uint8_t>(k) >= 20 && static_cast<uint8_t>(k) <= 29) || k == Kind::kUpdate;
}

Result<Kind> ParseHeader(std::string_view frame) {
  if (frame.size() != 2) return Err(InvalidArgument("header frame must be 2 bytes"));
  if (static_cast<uint8_t>(frame[1]) != kWireVersion)
    return Err(InvalidArgument("unsupported wire version " +
                               std::to_string(static_cast<uint8_t>(frame[1]))));
  auto k = static_cast<Kind>(static_cast<uint8_t>(frame[0]));
  if (std::string_view(KindName(k)) == "?")
    return Err(InvalidArgument("unknown message kind " +
                               std::to_string(static_cast<uint8_t>(frame[0]))));
  return k;
}

}  // namespace fanout::wire
