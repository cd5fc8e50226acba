// Result files: an output folder owned by one run, atomic writes (temporary file, then rename), and process
// figures.
#pragma once

#include <string>
#include <vector>

namespace credo {

// The files credo runs write into an output folder (train, compare and align); a folder holding any of them
// holds the results of a run.
const std::vector<std::string>& result_file_names();

// The result files `dir` already holds (empty if none, or if `dir` does not exist).
std::vector<std::string> results_in(const std::string& dir);

// Refuses (an InputError naming `option` and the folder) a folder that exists and is not one, or that already
// holds a run's results, unless `overwrite` says to replace them.
void check_output_dir(const std::string& dir, bool overwrite, const std::string& option = "--out");

// An output folder owned by one run. It refuses a folder holding another run's results unless `overwrite`
// (then those are removed when this run writes its first file, so the folder never mixes two runs), creates
// the folder if needed, and remembers what it created and wrote. Unless keep() is called, the destructor
// removes exactly that: this run's files, then the folders it created if they are empty. So a run that fails
// leaves the folder as it found it, and one that fails before producing anything leaves no empty folder.
class RunFolder {
 public:
  RunFolder() = default;  // no folder: write() does nothing
  RunFolder(std::string dir, bool overwrite, std::string option = "--out");
  // The folder of a run being resumed: it already holds that run's results, which stay whatever happens.
  static RunFolder adopt(std::string dir);
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;
  RunFolder(RunFolder&& other) noexcept;
  RunFolder& operator=(RunFolder&& other) noexcept;
  ~RunFolder();

  bool active() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  // Writes DIR/name atomically.
  void write(const std::string& name, const std::string& content);
  bool wrote_anything() const { return !written_.empty(); }
  // A file this run wrote itself (a checkpoint, written and flushed its own way): taken back like the others.
  void track(const std::string& name);
  // The run produced results (finished, interrupted, diverged, or failed after measuring something): keep them.
  void keep() { kept_ = true; }
  // Removes what this run wrote and the folders it created (if empty); what the destructor does unless kept.
  void roll_back();

 private:
  std::string dir_;
  bool replace_ = false;              // remove another run's results before the first write
  std::vector<std::string> created_;  // folders this run created, outermost first
  std::vector<std::string> written_;  // file names this run wrote
  bool kept_ = false;
};

// Creates `dir` if needed and checks a file can be written there; an InputError naming the folder otherwise.
void prepare_output_dir(const std::string& dir, const std::string& option = "--out");

// Writes `content` to a temporary file beside `path`, then renames it over `path`: readers never see a
// half-written file.
void write_atomic(const std::string& path, const std::string& content);

// The process's peak resident set size in MiB.
double peak_rss_mb();

}  // namespace credo
