// A deterministic run of the DOT loader harness, for any compiler: every seed input, then `--runs` inputs made
// from them by a fixed-seed mutator (bit flips, DOT tokens, deletions, duplications, splices, extreme numbers).
// Inputs that load join the pool, so mutations reach past the parser. Given files only, it replays them (a
// crash found by libFuzzer, say).
//
//   credo_fuzz_replay [--runs N] [--seed S] [--max-len L] DIR_OR_FILE...
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "framework/error.h"
#include "framework/graph.h"
#include "tests/fuzz/dot_harness.h"

namespace fs = std::filesystem;

namespace {

const char* const kTokens[] = {
    "digraph", "strict ", "graph", "subgraph", "node", "edge", "{", "}", "[", "]", ";", ",", "=", "->", "--", ":",
    "\"", "\\\"", "<", ">", "//", "/*", "*/", "\n#", " ", "\n", "kind=", "size=", "delay=", "gain=", "init=",
    "port=", "loss=", "alpha=", "forget_bias=", "label=", "input", "output", "tanh", "gru", "lstm", "identity",
    "orthogonal", "zero", "normal", "mse", "softmax_xent", "auto", "x", "h", "y", "h -> h [delay=1];", "x -> h;",
    "h -> y;", "\xc3\xa9", "+", "a_list"};

const char* const kNumbers[] = {"0",   "-1",    "1",      "2",          "1e3",  "1e308", "-1e308", "99999999999",
                                "2147483648", "1.5", ".5e1", "nan", "inf", "1e-3", "16", "17", "100000", "1e+0", "-0"};

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}

  std::string mutate(std::string s, const std::vector<std::string>& pool, size_t max_len) {
    const int rounds = 1 + pick(3);
    for (int r = 0; r < rounds; ++r) {
      const size_t n = s.size();
      switch (pick(8)) {
        case 0:
          if (n) s[pick(n)] ^= static_cast<char>(1 << pick(8));
          break;
        case 1:
          if (n) s[pick(n)] = static_cast<char>(32 + pick(95));
          break;
        case 2:
          s.insert(pick(n + 1), kTokens[pick(std::size(kTokens))]);
          break;
        case 3:
          if (n) {
            const size_t a = pick(n);
            s.erase(a, 1 + pick(16));
          }
          break;
        case 4:
          if (n) {
            const size_t a = pick(n), len = 1 + pick(std::min<size_t>(64, n - a));
            s.insert(pick(n + 1), s.substr(a, len));
          }
          break;
        case 5: {
          const std::string& other = pool[pick(pool.size())];
          s = s.substr(0, pick(n + 1)) + other.substr(pick(other.size() + 1));
          break;
        }
        case 6: {
          // An extreme number where a number was.
          size_t a = n ? pick(n) : 0;
          while (a < n && !std::isdigit(static_cast<unsigned char>(s[a]))) ++a;
          size_t b = a;
          while (b < n && (std::isdigit(static_cast<unsigned char>(s[b])) || s[b] == '.')) ++b;
          s.replace(a, b - a, kNumbers[pick(std::size(kNumbers))]);
          break;
        }
        default: {
          // Two lines swapped: statements in another order.
          std::vector<std::string> lines;
          std::stringstream in(s);
          for (std::string line; std::getline(in, line);) lines.push_back(line);
          if (lines.size() > 1) std::swap(lines[pick(lines.size())], lines[pick(lines.size())]);
          s.clear();
          for (const auto& line : lines) s += line + "\n";
        }
      }
    }
    if (s.size() > max_len) s.resize(max_len);
    return s;
  }

 private:
  size_t pick(size_t n) { return n ? std::uniform_int_distribution<size_t>(0, n - 1)(rng_) : 0; }
  std::mt19937_64 rng_;
};

bool loads(const std::string& text) {
  try {
    credo::parse_model(text, "probe.dot");
    return true;
  } catch (const credo::InputError&) {
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 0;
  std::uint64_t seed = 1;
  size_t max_len = 8192;
  std::vector<std::string> pool;
  bool only_files = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) runs = std::atol(argv[++i]);
    else if (a == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--max-len" && i + 1 < argc) max_len = std::strtoull(argv[++i], nullptr, 10);
    else if (fs::is_directory(a)) {
      only_files = false;
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(a))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());  // directory order is not deterministic
      for (const auto& f : files) pool.push_back(read(f));
    } else if (fs::is_regular_file(a)) {
      pool.push_back(read(a));
    } else {
      std::fprintf(stderr, "usage: credo_fuzz_replay [--runs N] [--seed S] [--max-len L] DIR_OR_FILE...\n");
      return 2;
    }
  }
  if (pool.empty()) {
    std::fprintf(stderr, "credo_fuzz_replay: no inputs\n");
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  long total = 0, loaded = 0;
  auto one = [&](const std::string& s) {
    credo::fuzz::one_input(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    ++total;
  };
  for (const auto& s : pool) one(s);
  if (only_files && runs == 0) {
    std::printf("replayed %ld inputs: no failure\n", total);
    return 0;
  }
  Mutator m(seed);
  const size_t seeds = pool.size();
  for (long r = 0; r < runs; ++r) {
    std::string s = m.mutate(pool[static_cast<size_t>(r) % pool.size()], pool, max_len);
    one(s);
    if (loads(s)) {
      ++loaded;
      if (pool.size() < seeds + 4000) pool.push_back(std::move(s));
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%ld inputs (%zu seeds, %ld mutated, %ld of them loaded) in %.1f s: no failure\n", total, seeds, runs,
              loaded, secs);
  return 0;
}
