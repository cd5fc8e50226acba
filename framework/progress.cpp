#include "framework/progress.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

namespace credo {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  if (t < 86400) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  return fmt::format("{}d{:02}h", t / 86400, (t % 86400) / 3600);
}

Progress::Progress(std::FILE* out, bool terminal, long total, std::string label, double interval,
                   std::function<double()> clock)
    : out_(out), terminal_(terminal), total_(total), label_(std::move(label)), interval_(interval),
      clock_(std::move(clock)) {
  if (!clock_)
    clock_ = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    };
  start_ = clock_();
}

std::string Progress::line(long done, const std::string& status, double now) const {
  const double elapsed = now - start_;
  // The rate since the first update seen (a resumed run starts part-way), so the time left is not skewed.
  const long base = start_done_ < 0 ? 0 : start_done_;
  const double rate = elapsed > 0 && done > base ? static_cast<double>(done - base) / elapsed : 0;
  const std::string eta = rate > 0 ? format_duration(static_cast<double>(total_ - done) / rate) : "?";
  const double pct = total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 0;
  return fmt::format("{}  update {}/{} ({:.0f}%)  {} elapsed, {} left{}", label_, done, total_, pct,
                     format_duration(elapsed), done >= total_ ? "0s" : eta, status.empty() ? "" : "  " + status);
}

void Progress::update(long done, const std::string& status) {
  const double now = clock_();
  if (start_done_ < 0) start_done_ = done > 0 ? done - 1 : 0;
  if (terminal_) {
    if (now - last_ < 0.1 && done < total_) return;
    fmt::print(out_, "\r{}\x1b[K", line(done, status, now));
  } else {
    // The first line at once, then one per interval.
    if (drawn_ && now - last_ < interval_) return;
    fmt::print(out_, "{}\n", line(done, status, now));
  }
  std::fflush(out_);
  last_ = now;
  drawn_ = true;
}

void Progress::finish(long done, const std::string& status) {
  const double now = clock_();
  if (terminal_) fmt::print(out_, "\r{}\x1b[K\n", line(done, status, now));
  else fmt::print(out_, "{}\n", line(done, status, now));
  std::fflush(out_);
}

}  // namespace credo
