// Helpers of the workbench tests: a scratch folder per test, running the credo program, and running Debian's
// numpy on files credo wrote.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace credo::workbench_test {

namespace fs = std::filesystem;

struct Outcome {
  int status = -1;
  std::string output;  // stdout and stderr together
};

inline Outcome shell(const std::string& cmd) {
  Outcome o;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
  const int st = ::pclose(p);
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

#ifdef CREDO_BINARY
inline Outcome credo(const std::string& args) { return shell(std::string(CREDO_BINARY) + " " + args); }
#endif

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Debian's python3 with numpy (scripts/setup.sh installs python3-numpy): the reader a researcher would use.
constexpr const char* kPython = "/usr/bin/python3";

// Runs `script` with numpy imported as np, in `dir`; expects exit status 0 and returns its output.
inline std::string numpy(const fs::path& dir, const std::string& script) {
  const fs::path file = dir / "check.py";
  std::ofstream(file) << "import json, sys\nimport numpy as np\n" << script << "\n";
  const Outcome o = shell("cd " + dir.string() + " && " + kPython + " " + file.string());
  EXPECT_EQ(o.status, 0) << "python3 with numpy failed (scripts/setup.sh installs python3-numpy):\n" << script
                         << "\n--- output:\n" << o.output;
  return o.output;
}

class ScratchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("credo_workbench_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::binary) << text;
    return path(name);
  }

  fs::path dir_;
};

}  // namespace credo::workbench_test
