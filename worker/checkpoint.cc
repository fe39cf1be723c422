#include "worker/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <system_error>
#include <utility>
#include <vector>

#include <msgpack.hpp>

namespace fanout::worker {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxEntries = 1u << 20;
constexpr size_t kMaxDecodedBytes = size_t{1} << 32;

// Exact msgpack header sizes, as msgpack-cxx packs them.
uint64_t MapHeader(uint64_t n) { return n < 16 ? 1 : n < 65536 ? 3 : 5; }
uint64_t StrHeader(uint64_t n) { return n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5; }
uint64_t BinHeader(uint64_t n) { return n < 256 ? 2 : n < 65536 ? 3 : 5; }

struct Entry {
  std::string rel;  // '/'-separated
  fs::path path;
  uint64_t size = 0;
};

// The relative path with '/' separators, or an error for a path we would refuse to decode.
Result<std::string> RelativePath(const fs::path& file, const fs::path& root) {
  fs::path rel = file.lexically_relative(root);
  std::string out;
  for (const auto& part : rel) {
    std::string p = part.string();
    if (p.empty() || p == "." || p == "..") {
      return Err(Internal("cannot encode checkpoint file " + file.string()));
    }
    if (!out.empty()) out += '/';
    out += p;
  }
  if (out.empty()) return Err(Internal("cannot encode checkpoint file " + file.string()));
  return out;
}

Result<std::string> ReadAll(const fs::path& path, uint64_t expected, bool* vanished) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(path, ec))) {
      *vanished = true;
      return std::string();
    }
    return Err(Internal("cannot open " + path.string() + ": " + std::strerror(errno)));
  }
  std::string data;
  data.reserve(static_cast<size_t>(expected));
  char buf[1 << 16];
  while (f.read(buf, sizeof(buf)) || f.gcount() > 0) {
    data.append(buf, static_cast<size_t>(f.gcount()));
  }
  if (f.bad()) return Err(Internal("cannot read " + path.string()));
  return data;
}

// Checks one decoded path: relative, '/'-separated, no empty, "." or ".." component.
Status CheckDecodedPath(std::string_view rel) {
  auto bad = [&](const char* why) {
    return InvalidArgument(fmt::format("checkpoint path '{}' {}", rel.substr(0, 200), why));
  };
  if (rel.empty()) return bad("is empty");
  if (rel.front() == '/') return bad("is absolute");
  if (rel.find('\0') != std::string_view::npos) return bad("contains a NUL byte");
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    std::string_view part = rel.substr(start, end - start);
    if (part.empty() || part == ".") return bad("has an empty or '.' component");
    if (part == "..") return bad("has a '..' component");
    start = end + 1;
  }
  return Status::Ok();
}

std::string_view ObjectBytes(const msgpack::object& o, bool* ok) {
  *ok = true;
  if (o.type == msgpack::type::BIN) return {o.via.bin.ptr, o.via.bin.size};
  if (o.type == msgpack::type::STR) return {o.via.str.ptr, o.via.str.size};
  *ok = false;
  return {};
}

}  // namespace

std::string CheckpointTooLargeMessage(uint64_t size, int64_t cap) {
  return fmt::format("checkpoint of {} bytes exceeds the cap of {} bytes", size, cap);
}

Status CheckCheckpointSize(uint64_t size, int64_t cap) {
  if (cap > 0 && size > static_cast<uint64_t>(cap)) {
    return InvalidArgument(CheckpointTooLargeMessage(size, cap));
  }
  return Status::Ok();
}

Result<std::string> EncodeCheckpointDir(const fs::path& dir, int64_t cap) {
  std::error_code ec;
  std::vector<Entry> entries;
  if (fs::exists(dir, ec)) {
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    if (ec) return Err(Internal("cannot list " + dir.string() + ": " + ec.message()));
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      std::error_code sec;
      // Regular files only; symlinks are not followed (lstat).
      if (it->symlink_status(sec).type() != fs::file_type::regular) continue;
      uint64_t size = it->file_size(sec);
      if (sec) continue;  // vanished
      auto rel = RelativePath(it->path(), dir);
      if (!rel) return Err(rel.error());
      entries.push_back(Entry{std::move(*rel), it->path(), size});
    }
    if (ec) return Err(Internal("cannot list " + dir.string() + ": " + ec.message()));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.rel < b.rel; });

  // The exact encoded size, known before reading a byte.
  auto encoded_size = [](const std::vector<Entry>& es) {
    uint64_t total = MapHeader(es.size());
    for (const Entry& e : es) {
      total += StrHeader(e.rel.size()) + e.rel.size() + BinHeader(e.size) + e.size;
    }
    return total;
  };
  Status st = CheckCheckpointSize(encoded_size(entries), cap);
  if (!st.ok()) return Err(st);

  std::vector<std::pair<const Entry*, std::string>> files;
  files.reserve(entries.size());
  for (Entry& e : entries) {
    bool vanished = false;
    auto data = ReadAll(e.path, e.size, &vanished);
    if (!data) return Err(data.error());
    if (vanished) continue;
    if (data->size() > std::numeric_limits<uint32_t>::max()) {
      return Err(InvalidArgument("checkpoint file " + e.rel + " is too large"));
    }
    e.size = data->size();  // it may have changed since the stat
    files.emplace_back(&e, std::move(*data));
  }
  uint64_t total = MapHeader(files.size());
  for (const auto& [e, data] : files) {
    total += StrHeader(e->rel.size()) + e->rel.size() + BinHeader(data.size()) + data.size();
  }
  st = CheckCheckpointSize(total, cap);
  if (!st.ok()) return Err(st);

  msgpack::sbuffer buf(static_cast<size_t>(total));
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(static_cast<uint32_t>(files.size()));
  for (const auto& [e, data] : files) {
    pk.pack_str(static_cast<uint32_t>(e->rel.size()));
    pk.pack_str_body(e->rel.data(), static_cast<uint32_t>(e->rel.size()));
    pk.pack_bin(static_cast<uint32_t>(data.size()));
    pk.pack_bin_body(data.data(), static_cast<uint32_t>(data.size()));
  }
  return std::string(buf.data(), buf.size());
}

bool CheckpointDirIsEmpty(std::string_view encoded) {
  return encoded.empty() || (encoded.size() == 1 && static_cast<uint8_t>(encoded[0]) == 0x80);
}

Status DecodeCheckpointDir(std::string_view encoded, const fs::path& dir) {
  msgpack::object_handle oh;
  try {
    size_t off = 0;
    msgpack::unpack_limit limit(16, kMaxEntries, kMaxDecodedBytes, kMaxDecodedBytes, 0, 4);
    oh = msgpack::unpack(encoded.data(), encoded.size(), off, nullptr, nullptr, limit);
    if (off != encoded.size()) return InvalidArgument("trailing bytes after the checkpoint");
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("malformed checkpoint: ") + e.what());
  }
  const msgpack::object& o = oh.get();
  if (o.type != msgpack::type::MAP) {
    return InvalidArgument("malformed checkpoint: not a map of path to file contents");
  }
  // Check every path before writing anything.
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const msgpack::object_kv& kv = o.via.map.ptr[i];
    bool key_ok = false, value_ok = false;
    std::string_view rel = ObjectBytes(kv.key, &key_ok);
    ObjectBytes(kv.val, &value_ok);
    if (kv.key.type != msgpack::type::STR || !key_ok || !value_ok) {
      return InvalidArgument("malformed checkpoint: not a map of path to file contents");
    }
    Status st = CheckDecodedPath(rel);
    if (!st.ok()) return st;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const msgpack::object_kv& kv = o.via.map.ptr[i];
    bool ok = false;
    std::string_view rel = ObjectBytes(kv.key, &ok);
    std::string_view data = ObjectBytes(kv.val, &ok);
    fs::path path = dir / fs::path(std::string(rel));
    fs::create_directories(path.parent_path(), ec);
    if (ec) return Internal("cannot create " + path.parent_path().string() + ": " + ec.message());
    if (Status st = WriteFile(path, data); !st.ok()) return st;
  }
  return Status::Ok();
}

Status WriteFile(const std::filesystem::path& path, std::string_view data) {
  // 0600 and never through a symlink: these are an attempt's private files.
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Internal("cannot create " + path.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      close(fd);
      return Internal("cannot write " + path.string() + ": " + std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) return Internal("cannot write " + path.string() + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace fanout::worker
