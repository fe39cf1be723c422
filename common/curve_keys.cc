#include "common/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace fanout {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
constexpr size_t kKeyFileMax = 4096;

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// The trimmed text of a small file; `st` receives its stat.
Result<std::string> ReadSmallFile(const std::string& path, struct stat* st) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Err(NotFound(fmt::format("cannot read key file {}: {}", path, std::strerror(errno))));
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    close(fd);
    return Err(InvalidArgument("key file " + path + " is not a regular file"));
  }
  std::string text(kKeyFileMax, '\0');
  ssize_t n = read(fd, text.data(), text.size());
  close(fd);
  if (n < 0) return Err(Unavailable(fmt::format("cannot read key file {}: {}", path, std::strerror(errno))));
  text.resize(static_cast<size_t>(n));
  return Trim(std::move(text));
}

Status WriteExclusive(const std::string& path, const std::string& text, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    if (errno == EEXIST) return FailedPrecondition(path + " exists; not overwritten");
    return Unavailable(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
  }
  fchmod(fd, mode);
  ssize_t n = write(fd, text.data(), text.size());
  bool ok = n == static_cast<ssize_t>(text.size());
  if (close(fd) != 0 || !ok) return Unavailable("cannot write " + path);
  return Status::Ok();
}

Status MakePrivateDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Unavailable(fmt::format("cannot create {}: {}", dir, ec.message()));
  if (chmod(dir.c_str(), 0700) != 0)
    return Unavailable(fmt::format("cannot chmod {}: {}", dir, std::strerror(errno)));
  return Status::Ok();
}

// A value is a key given inline when it is Z85 and no file has that name: a 40-character
// path is made of Z85 characters too.
bool IsInlineKey(const std::string& value) {
  if (!IsZ85Key(value)) return false;
  struct stat st {};
  return stat(value.c_str(), &st) != 0;
}

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

}  // namespace

bool CurveAvailable() { return zmq_has("curve") != 0; }

Result<CurveKeyPair> GenerateCurveKeyPair() {
  if (!CurveAvailable()) return Err(Internal("this libzmq has no CURVE support (built without libsodium)"));
  char pub[41] = {0}, sec[41] = {0};
  if (zmq_curve_keypair(pub, sec) != 0) return Err(Internal(std::string("zmq_curve_keypair: ") + zmq_strerror(zmq_errno())));
  return CurveKeyPair{pub, sec};
}

bool IsZ85Key(std::string_view text) {
  if (text.size() != 40) return false;
  for (char c : text)
    if (kZ85Alphabet.find(c) == std::string_view::npos) return false;
  return true;
}

Result<std::string> CurvePublicOf(const std::string& secret_z85) {
  if (!IsZ85Key(secret_z85)) return Err(InvalidArgument("not a Z85 secret key (40 characters)"));
  char pub[41] = {0};
  if (zmq_curve_public(pub, secret_z85.c_str()) != 0)
    return Err(InvalidArgument(std::string("not a CURVE secret key: ") + zmq_strerror(zmq_errno())));
  return std::string(pub);
}

std::optional<std::string> Z85OfBinaryKey(std::string_view binary) {
  if (binary.size() != 32) return std::nullopt;
  char out[41] = {0};
  if (zmq_z85_encode(out, reinterpret_cast<const uint8_t*>(binary.data()), 32) == nullptr) return std::nullopt;
  return std::string(out);
}

Status WriteCurveKeyPair(const std::string& dir, const std::string& name, const CurveKeyPair& pair) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    if (Status s = MakePrivateDir(dir); !s.ok()) return s;
  }
  std::string base = dir + "/" + name;
  // The secret first: a pair whose .key exists is complete or being written by its owner.
  if (Status s = WriteExclusive(base + ".key", pair.secret_z85 + "\n", 0600); !s.ok()) return s;
  std::remove((base + ".pub").c_str());  // a stale public key of an earlier pair
  return WriteExclusive(base + ".pub", pair.public_z85 + "\n", 0644);
}

Result<std::string> LoadPublicKey(const std::string& value) {
  if (IsInlineKey(value)) return value;
  struct stat st {};
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(value, &st));
  if (!IsZ85Key(text)) return Err(InvalidArgument("key file " + value + " does not hold a Z85 public key"));
  return text;
}

Result<CurveKeyPair> LoadSecretKey(const std::string& value) {
  std::string secret;
  if (IsInlineKey(value)) {
    secret = value;
  } else {
    struct stat st {};
    ASSIGN_OR_RETURN(secret, ReadSmallFile(value, &st));
    if ((st.st_mode & 077) != 0) {
      return Err(FailedPrecondition(fmt::format(
          "secret key file {} is readable by others (mode {:o}); chmod 600 it", value, st.st_mode & 0777)));
    }
    if (!IsZ85Key(secret)) return Err(InvalidArgument("key file " + value + " does not hold a Z85 secret key"));
  }
  Result<std::string> pub = CurvePublicOf(secret);
  if (!pub) return Err(InvalidArgument("secret key " + (IsInlineKey(value) ? std::string("(given inline)") : value) +
                                       ": " + pub.error().message()));
  return CurveKeyPair{*pub, secret};
}

Result<CurveAllowList> LoadAllowList(const std::string& dir) {
  CurveAllowList list;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return list;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".pub") continue;
    struct stat st {};
    ASSIGN_OR_RETURN(std::string text, ReadSmallFile(e.path().string(), &st));
    if (!IsZ85Key(text)) return Err(InvalidArgument("allow-list file " + e.path().string() + " does not hold a Z85 public key"));
    list.emplace(text, e.path().stem().string());
  }
  if (ec) return Err(Unavailable(fmt::format("cannot list {}: {}", dir, ec.message())));
  return list;
}

Result<ServerKeys> LoadServerKeys(const std::string& dir) {
  ServerKeys keys;
  ASSIGN_OR_RETURN(keys.server, LoadSecretKey(dir + "/server.key"));
  ASSIGN_OR_RETURN(keys.clients, LoadAllowList(dir + "/clients"));
  ASSIGN_OR_RETURN(keys.workers, LoadAllowList(dir + "/workers"));
  return keys;
}

Status EnsureLocalKeys(const std::string& keys_dir) {
  if (Status s = MakePrivateDir(keys_dir); !s.ok()) return s;
  for (const char* name : {"server", "client", "worker"}) {
    std::string key = keys_dir + "/" + name + ".key";
    if (LoadSecretKey(key)) continue;
    std::error_code ec;
    if (fs::exists(key, ec)) {
      return FailedPrecondition("the key file " + key + " is unusable: " + LoadSecretKey(key).error().message());
    }
    Result<CurveKeyPair> pair = GenerateCurveKeyPair();
    if (!pair) return pair.error();
    Status s = WriteCurveKeyPair(keys_dir, name, *pair);
    if (!s.ok() && s.code() != Code::kFailedPrecondition) return s;  // lost a race: the other pair stands
  }
  for (auto [name, list] : {std::pair{"client", "clients"}, std::pair{"worker", "workers"}}) {
    Result<CurveKeyPair> loaded = LoadSecretKey(keys_dir + "/" + name + ".key");
    if (!loaded) return loaded.error();
    const CurveKeyPair& pair = *loaded;
    std::string listed = fmt::format("{}/{}/local.pub", keys_dir, list);
    if (Status s = MakePrivateDir(keys_dir + "/" + list); !s.ok()) return s;
    Result<std::string> current = LoadPublicKey(listed);
    if (current && *current == pair.public_z85) continue;
    std::string tmp = listed + fmt::format(".{}.tmp", getpid());
    std::remove(tmp.c_str());
    if (Status s = WriteExclusive(tmp, pair.public_z85 + "\n", 0644); !s.ok()) return s;
    if (std::rename(tmp.c_str(), listed.c_str()) != 0)
      return Unavailable(fmt::format("cannot write {}: {}", listed, std::strerror(errno)));
  }
  // server.pub is what peers need: rewrite it from the secret if it went missing.
  Result<CurveKeyPair> server = LoadSecretKey(keys_dir + "/server.key");
  if (!server) return server.error();
  if (Result<std::string> pub = LoadPublicKey(keys_dir + "/server.pub"); !pub || *pub != server->public_z85) {
    std::string tmp = keys_dir + fmt::format("/server.pub.{}.tmp", getpid());
    std::remove(tmp.c_str());
    if (Status s = WriteExclusive(tmp, server->public_z85 + "\n", 0644); !s.ok()) return s;
    if (std::rename(tmp.c_str(), (keys_dir + "/server.pub").c_str()) != 0)
      return Unavailable("cannot write " + keys_dir + "/server.pub");
  }
  return Status::Ok();
}

Result<std::optional<CurvePeerKeys>> ResolvePeerKeys(const std::string& flag_server_key,
                                                     const std::string& flag_key, std::string_view role,
                                                     const std::string& home) {
  std::string keys_dir = home.empty() ? "" : home + "/keys";
  std::error_code ec;
  // The server key: flag, env, file.
  std::string server_source;
  if (!flag_server_key.empty()) {
    server_source = flag_server_key;
  } else if (const char* v = Env("FANOUT_SERVER_KEY")) {
    server_source = v;
  } else if (!keys_dir.empty() && fs::exists(keys_dir + "/server.pub", ec)) {
    server_source = keys_dir + "/server.pub";
  }
  if (server_source.empty()) {
    if (!flag_key.empty() || Env("FANOUT_KEY") != nullptr)
      return Err(InvalidArgument("a key is given but no server key (--server-key or FANOUT_SERVER_KEY)"));
    return std::optional<CurvePeerKeys>();
  }
  Result<std::string> server = LoadPublicKey(server_source);
  if (!server) return Err(InvalidArgument("server key: " + server.error().message()));
  std::string own_source;
  if (!flag_key.empty()) {
    own_source = flag_key;
  } else if (const char* v = Env("FANOUT_KEY")) {
    own_source = v;
  } else if (!keys_dir.empty()) {
    own_source = fmt::format("{}/{}.key", keys_dir, role);
  }
  if (own_source.empty())
    return Err(InvalidArgument(fmt::format("a server key is given but no {} key (--key or FANOUT_KEY)", role)));
  Result<CurveKeyPair> own = LoadSecretKey(own_source);
  if (!own) return Err(InvalidArgument(fmt::format("{} key: {}", role, own.error().message())));
  return std::optional<CurvePeerKeys>(CurvePeerKeys{*server, *own});
}

void ApplyCurveClient(zmq::socket_t& socket, const CurvePeerKeys& keys) {
  socket.set(zmq::sockopt::curve_serverkey, keys.server_public_z85);
  socket.set(zmq::sockopt::curve_publickey, keys.own.public_z85);
  socket.set(zmq::sockopt::curve_secretkey, keys.own.secret_z85);
}

}  // namespace fanout
