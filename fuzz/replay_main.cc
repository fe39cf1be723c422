// The replay driver: a plain main() (no libFuzzer, no clang) that feeds files to a fuzz
// target's LLVMFuzzerTestOneInput, so `make test` replays the saved seeds, corpus and every
// crash found so far with the ordinary g++ build. A target's FUZZ_CHECK or a crash fails the
// process, and so the test.
//
// Usage: fuzz_replay_TARGET PATH...   (files, or directories whose files are replayed in
// name order; a missing directory counts as empty, dot-files are skipped)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool Replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz_replay: cannot read %s\n", file.c_str());
    return false;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A copy in a buffer of exactly its size, as libFuzzer gives it (no terminating NUL).
  std::vector<uint8_t> data(bytes.begin(), bytes.end());
  std::fprintf(stderr, "fuzz_replay: %s\n", file.c_str());
  LLVMFuzzerTestOneInput(data.data(), data.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
      std::sort(files.begin(), files.end());
    } else if (std::filesystem::exists(p)) {
      files.push_back(p);
    }
    for (const auto& f : files) {
      if (!Replay(f)) return 1;
      ++count;
    }
    std::printf("fuzz_replay: %s: %zu inputs\n", argv[i], files.size());
  }
  std::printf("fuzz_replay: %zu inputs replayed, all passed\n", count);
  return 0;
}
