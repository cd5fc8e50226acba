#include "framework/results.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "framework/error.h"

namespace credo {

namespace fs = std::filesystem;

const std::vector<std::string>& result_file_names() {
  static const std::vector<std::string> names = {"config.json",  "model.dot",     "metrics.csv", "params.npz",
                                                 "checkpoint.ckpt", "summary.json", "alignment.csv", "summary.csv"};
  return names;
}

std::vector<std::string> results_in(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& name : result_file_names())
    if (fs::exists(fs::path(dir) / name, ec)) found.push_back(name);
  return found;
}

void check_output_dir(const std::string& dir, bool overwrite, const std::string& option) {
  std::error_code ec;
  if (dir.empty()) fail("{} is empty: give a folder for the results", option);
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) fail("{} {}: exists and is not a folder", option, dir);
  const auto found = results_in(dir);
  if (!found.empty() && !overwrite)
    fail("{} {}: the folder already holds the results of a run ({}); give another folder, or add --overwrite to "
         "replace them",
         option, dir, fmt::join(found, ", "));
}

RunFolder::RunFolder(std::string dir, bool overwrite, std::string option) : dir_(std::move(dir)) {
  check_output_dir(dir_, overwrite, option);
  replace_ = !results_in(dir_).empty();
  // The folders to create, outermost first, so that a failed run can take back exactly those.
  std::vector<std::string> missing;
  std::error_code ec;
  fs::path p = fs::path(dir_).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "out/" names the folder "out"
  for (; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p.string());
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    fs::create_directory(*it, ec);
    if (ec) {
      const std::string message = ec.message();
      roll_back();
      dir_.clear();
      fail("{} {}: cannot create the folder ({})", option, *it, message);
    }
    created_.push_back(*it);
  }
  const std::string probe = (fs::path(dir_) / ".credo-write-test").string();
  bool writable = false;
  {
    std::ofstream out(probe);
    writable = static_cast<bool>(out);
  }
  fs::remove(probe, ec);
  if (!writable) {
    const std::string d = dir_;
    roll_back();
    dir_.clear();
    fail("{} {}: the folder is not writable", option, d);
  }
}

RunFolder RunFolder::adopt(std::string dir) {
  RunFolder f;
  f.dir_ = std::move(dir);
  f.kept_ = true;
  return f;
}

void RunFolder::track(const std::string& name) {
  if (!dir_.empty() && std::find(written_.begin(), written_.end(), name) == written_.end()) written_.push_back(name);
}

RunFolder::RunFolder(RunFolder&& o) noexcept
    : dir_(std::move(o.dir_)),
      replace_(o.replace_),
      created_(std::move(o.created_)),
      written_(std::move(o.written_)),
      kept_(o.kept_) {
  o.dir_.clear();
  o.created_.clear();
  o.written_.clear();
}

RunFolder& RunFolder::operator=(RunFolder&& o) noexcept {
  if (this != &o) {
    if (!kept_) roll_back();
    dir_ = std::move(o.dir_);
    replace_ = o.replace_;
    created_ = std::move(o.created_);
    written_ = std::move(o.written_);
    kept_ = o.kept_;
    o.dir_.clear();
    o.created_.clear();
    o.written_.clear();
  }
  return *this;
}

RunFolder::~RunFolder() {
  if (!kept_) roll_back();
}

void RunFolder::write(const std::string& name, const std::string& content) {
  if (dir_.empty()) return;
  std::error_code ec;
  if (replace_) {
    for (const auto& old : results_in(dir_)) fs::remove(fs::path(dir_) / old, ec);
    replace_ = false;
  }
  write_atomic((fs::path(dir_) / name).string(), content);
  if (std::find(written_.begin(), written_.end(), name) == written_.end()) written_.push_back(name);
}

void RunFolder::roll_back() {
  std::error_code ec;
  for (const auto& name : written_) fs::remove(fs::path(dir_) / name, ec);
  written_.clear();
  // Innermost first; a folder something else has put files into is left alone (remove fails on it).
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) fs::remove(*it, ec);
  created_.clear();
}

void prepare_output_dir(const std::string& dir, const std::string& option) {
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
