#include "framework/results.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "framework/error.h"

namespace credo {

void prepare_output_dir(const std::string& dir, const std::string& option) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (dir.empty()) fail("{} is empty: give a folder for the results", option);
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) fail("{} {}: exists and is not a folder", option, dir);
  fs::create_directories(dir, ec);
  if (ec) fail("{} {}: cannot create the folder ({})", option, dir, ec.message());
  const std::string probe = (fs::path(dir) / ".credo-write-test").string();
  {
    std::ofstream out(probe);
    if (!out) fail("{} {}: the folder is not writable", option, dir);
  }
  fs::remove(probe, ec);
}

void write_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot write", tmp);
    out << content;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      fail("{}: write failed (disk full?)", tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail("{}: cannot replace the file", path);
  }
}

double peak_rss_mb() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace credo
