// Training progress on stderr: on a terminal one line redrawn in place with the rate and the time left; elsewhere
// (a log file, a batch job) a plain line at a steady interval, so the log stays readable.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

namespace credo {

// "12s", "3m05s", "1h02m", "2d03h".
std::string format_duration(double seconds);

class Progress {
 public:
  // `total` updates are to come; `label` begins every line. On a terminal the line is redrawn at most every
  // 0.1 s; elsewhere a line is written when the first update is done, every `interval` seconds, and at the end.
  // `clock` gives seconds (steady; defaults to the process's steady clock).
  Progress(std::FILE* out, bool terminal, long total, std::string label, double interval = 30,
           std::function<double()> clock = {});
  // After update `done` (of total); `status` (e.g. the last evaluation) is shown after the figures.
  void update(long done, const std::string& status);
  // The last line: on a terminal the live line is completed with a newline.
  void finish(long done, const std::string& status);

 private:
  std::string line(long done, const std::string& status, double now) const;

  std::FILE* out_;
  bool terminal_;
  long total_;
  std::string label_;
  double interval_;
  std::function<double()> clock_;
  double start_ = 0, last_ = -1e300;
  long start_done_ = -1;
  bool drawn_ = false;
};

}  // namespace credo
