// CurveZMQ keys (issue 10; docs/security.md): key pairs, their files, the coordinator's key
// directory and how clients and workers find their keys.
//
// Files. A key pair NAME is two files: NAME.pub holds the public key as Z85 text (40 characters
// and a newline; it may be copied anywhere), NAME.key holds the secret key as Z85 text and is
// 0600 (the public key is derived from it). A key directory (the coordinator's, --keys-dir) is
//   server.key, server.pub   the coordinator's own pair
//   clients/*.pub            public keys allowed to send client requests (NAME.pub → "client:NAME")
//   workers/*.pub            public keys allowed to act as workers     (NAME.pub → "worker:NAME")
// A local cluster's directory ($FANOUT_HOME/keys, 0700) also holds client.key/.pub and
// worker.key/.pub, the pairs its CLI and its workers use (EnsureLocalKeys).
//
// Peers (clients and workers) take the server's public key and their own secret key from, in
// this order: a flag (--server-key, --key), the environment (FANOUT_SERVER_KEY, FANOUT_KEY), and
// the files $FANOUT_HOME/keys/server.pub and $FANOUT_HOME/keys/ROLE.key. Each value is the path
// of a file holding a key, or else (no such file) a Z85 key given inline. With no server key anywhere a peer speaks plain ZeroMQ
// (NULL), which only a coordinator without keys (bound to loopback) accepts.
// Pure functions over the file system; any thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "common/status.h"

namespace fanout {

// A CURVE key pair as Z85 text (40 characters each).
struct CurveKeyPair {
  std::string public_z85;
  std::string secret_z85;
};

// What a client or worker socket needs to connect to a CURVE coordinator.
struct CurvePeerKeys {
  std::string server_public_z85;
  CurveKeyPair own;
};

// True when zmq was built with CURVE (libsodium); every function below needs it.
bool CurveAvailable();

// A fresh key pair. kInternal when zmq has no CURVE.
Result<CurveKeyPair> GenerateCurveKeyPair();

// True when `text` is a well-formed Z85 key (40 characters of the Z85 alphabet).
bool IsZ85Key(std::string_view text);

// The Z85 public key of a Z85 secret key.
Result<std::string> CurvePublicOf(const std::string& secret_z85);

// The Z85 text of a 32-byte binary key (as a ZAP request carries it); nullopt if not 32 bytes.
std::optional<std::string> Z85OfBinaryKey(std::string_view binary);

// Writes DIR/NAME.pub (0644) and DIR/NAME.key (0600, created exclusively: an existing pair is
// never overwritten, kFailedPrecondition). Creates DIR (0700) if missing.
Status WriteCurveKeyPair(const std::string& dir, const std::string& name, const CurveKeyPair& pair);

// Reads a public key: `value` is a Z85 key or the path of a file holding one.
Result<std::string> LoadPublicKey(const std::string& value);
// Reads a key pair from a secret key: `value` is a Z85 secret or the path of a NAME.key file.
// A secret file readable by group or others is refused (kFailedPrecondition), as ssh does.
Result<CurveKeyPair> LoadSecretKey(const std::string& value);

// An allow-list: Z85 public key → name ("alice" for clients/alice.pub).
using CurveAllowList = std::map<std::string, std::string>;
// The *.pub files of `dir` (missing dir: empty list). A malformed file is an error naming it.
Result<CurveAllowList> LoadAllowList(const std::string& dir);

// A coordinator's key directory, loaded.
struct ServerKeys {
  CurveKeyPair server;
  CurveAllowList clients;
  CurveAllowList workers;
};
Result<ServerKeys> LoadServerKeys(const std::string& dir);

// Creates what a local cluster needs in `keys_dir` (0700): the server, client and worker pairs,
// and client.pub/worker.pub listed in clients/local.pub and workers/local.pub. Pairs that exist
// are kept. Idempotent; safe against a concurrent call (exclusive creation, then re-read).
Status EnsureLocalKeys(const std::string& keys_dir);

// Resolves a peer's keys by the precedence above. role: "client" or "worker" (the default
// secret file's name). `home`: $FANOUT_HOME ("" skips the files). Returns nullopt when no
// server key is given anywhere (plain ZeroMQ); an error when a server key is given but the
// own key is missing or malformed.
Result<std::optional<CurvePeerKeys>> ResolvePeerKeys(const std::string& flag_server_key,
                                                     const std::string& flag_key,
                                                     std::string_view role, const std::string& home);

// Makes `socket` a CURVE client of the server (before connect).
void ApplyCurveClient(zmq::socket_t& socket, const CurvePeerKeys& keys);

}  // namespace fanout
