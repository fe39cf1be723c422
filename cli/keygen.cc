#include "cli/keygen.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "cli/exit_code.h"
#include "common/curve_keys.h"

namespace fanout::cli {
namespace {

namespace fs = std::filesystem;

int Fail(int code, const std::string& msg) {
  std::fprintf(stderr, "fanout keygen: %s\n", msg.c_str());
  return code;
}

Status MakeDir(const std::string& dir, mode_t mode) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Unavailable(fmt::format("cannot create {}: {}", dir, ec.message()));
  chmod(dir.c_str(), mode);
  return Status::Ok();
}

// Writes DIR/NAME.{key,pub} unless the pair exists (then: kept with if_missing, else an error).
Result<CurveKeyPair> MakePair(const std::string& dir, const std::string& name, bool if_missing) {
  std::string key = dir + "/" + name + ".key";
  std::error_code ec;
  if (fs::exists(key, ec)) {
    if (!if_missing) return Err(FailedPrecondition(key + " exists; not overwritten (--if-missing keeps it)"));
    Result<CurveKeyPair> pair = LoadSecretKey(key);
    if (!pair) return pair;
    return pair;
  }
  ASSIGN_OR_RETURN(CurveKeyPair pair, GenerateCurveKeyPair());
  if (Status s = WriteCurveKeyPair(dir, name, pair); !s.ok()) return Err(s);
  return pair;
}

}  // namespace

int RunKeygen(const KeygenOptions& opts) {
  if (!CurveAvailable()) return Fail(kExitFailed, "this libzmq has no CURVE support (built without libsodium)");
  if (!opts.coordinator_dir.empty()) {
    const std::string& dir = opts.coordinator_dir;
    if (Status s = MakeDir(dir, 0700); !s.ok()) return Fail(kExitFailed, s.message());
    Result<CurveKeyPair> server = MakePair(dir, "server", opts.if_missing);
    if (!server) return Fail(server.error().code() == Code::kFailedPrecondition ? kExitUsage : kExitFailed,
                             server.error().message());
    for (const char* list : {"clients", "workers"}) {
      if (Status s = MakeDir(dir + "/" + list, 0700); !s.ok()) return Fail(kExitFailed, s.message());
    }
    std::printf("%s\n", server->public_z85.c_str());
    std::fprintf(stderr,
                 "fanout keygen: coordinator keys in %s (give it --keys-dir %s); put client public keys "
                 "in %s/clients/ and worker public keys in %s/workers/; peers need %s/server.pub\n",
                 dir.c_str(), dir.c_str(), dir.c_str(), dir.c_str(), dir.c_str());
    return kExitOk;
  }
  if (opts.name.empty()) return Fail(kExitUsage, "give a NAME for the key pair, or --coordinator-dir DIR");
  if (opts.name.find('/') != std::string::npos || opts.name.starts_with("."))
    return Fail(kExitUsage, "NAME must be a plain file name: " + opts.name);
  std::error_code ec;
  if (!fs::exists(opts.dir, ec)) {
    if (Status s = MakeDir(opts.dir, 0700); !s.ok()) return Fail(kExitFailed, s.message());
  }
  Result<CurveKeyPair> pair = MakePair(opts.dir, opts.name, opts.if_missing);
  if (!pair) return Fail(pair.error().code() == Code::kFailedPrecondition ? kExitUsage : kExitFailed,
                         pair.error().message());
  if (!opts.allow.empty()) {
    if (Status s = MakeDir(opts.allow, 0700); !s.ok()) return Fail(kExitFailed, s.message());
    std::string listed = opts.allow + "/" + opts.name + ".pub";
    std::error_code copy_ec;
    fs::copy_file(opts.dir + "/" + opts.name + ".pub", listed, fs::copy_options::overwrite_existing, copy_ec);
    if (copy_ec) return Fail(kExitFailed, fmt::format("cannot write {}: {}", listed, copy_ec.message()));
  }
  std::printf("%s\n", pair->public_z85.c_str());
  return kExitOk;
}

}  // namespace fanout::cli
