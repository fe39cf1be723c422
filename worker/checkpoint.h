// Checkpoints on the worker (DESIGN §3.3, §4): the size cap, and the encoding of a command's
// $FANOUT_CHECKPOINT_DIR as bytes.
//
// A directory is encoded as one msgpack map: relative path (components joined with '/') →
// file contents (msgpack bin), one entry per regular file found recursively, sorted by path so
// that the same content always gives the same bytes. Symlinks, sockets, devices and empty
// directories are not saved. Decoding refuses absolute paths and empty, "." or ".." components,
// so a checkpoint can never write outside its directory. Pure file I/O, any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace fanout::worker {

// The worker's default cap (--max-checkpoint-bytes) when the task sets none.
inline constexpr int64_t kDefaultMaxCheckpointBytes = int64_t{16} << 20;

// The cap that applies to a task: its own max_checkpoint_bytes when > 0, else the worker's.
inline int64_t EffectiveCheckpointCap(int64_t task_cap, int64_t worker_cap) {
  return task_cap > 0 ? task_cap : worker_cap;
}

// "checkpoint of N bytes exceeds the cap of M bytes": the user error of an oversized save.
std::string CheckpointTooLargeMessage(uint64_t size, int64_t cap);

// Ok when `size` fits the cap (cap <= 0: no cap); else kInvalidArgument with the message above.
Status CheckCheckpointSize(uint64_t size, int64_t cap);

// Encodes every regular file below `dir` (see above). An empty directory gives an empty map
// (one byte, 0x80); use CheckpointDirIsEmpty to tell "nothing saved". With cap > 0 an encoding
// larger than the cap is refused (kInvalidArgument, CheckpointTooLargeMessage) before the files
// are read. A file that vanishes while the directory is read is skipped.
Result<std::string> EncodeCheckpointDir(const std::filesystem::path& dir, int64_t cap = 0);

// True when `encoded` (from EncodeCheckpointDir) holds no file.
bool CheckpointDirIsEmpty(std::string_view encoded);

// Writes the files of an encoded directory below `dir` (created if missing). Refuses anything
// that is not a map of path → bytes, and absolute or escaping paths (kInvalidArgument).
Status DecodeCheckpointDir(std::string_view encoded, const std::filesystem::path& dir);

// Creates (mode 0600) or truncates `path` and writes `data` to it; refuses to follow a symlink
// at `path`. Errors name the file.
Status WriteFile(const std::filesystem::path& path, std::string_view data);

}  // namespace fanout::worker
