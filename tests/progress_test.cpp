// Progress lines (framework/progress.h): a live line with the time left on a terminal, plain lines at a steady
// interval elsewhere.
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "framework/progress.h"

namespace credo {
namespace {

struct Capture {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* f = ::open_memstream(&buf, &size);
  ~Capture() {
    std::fclose(f);
    std::free(buf);
  }
  std::string text() {
    std::fflush(f);
    return std::string(buf, size);
  }
};

TEST(Progress, Durations) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(59.4), "59s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
  EXPECT_EQ(format_duration(2 * 86400 + 3 * 3600 + 5), "2d03h");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(Progress, PlainLinesAtASteadyInterval) {
  Capture c;
  double now = 0;
  Progress p(c.f, false, 1000, "rtrl add", 30, [&] { return now; });
  for (long k = 1; k <= 1000; ++k) {
    now = k * 0.1;  // 10 updates per second: 100 s in all
    p.update(k, "eval loss 0.5");
  }
  p.finish(1000, "eval loss 0.4");
  const std::string s = c.text();
  EXPECT_EQ(s.find('\r'), std::string::npos);
  int lines = 0;
  for (char ch : s) lines += ch == '\n';
  EXPECT_EQ(lines, 5) << s;  // at 0.1 s, 30.1 s, 60.1 s, 90.1 s, and the end
  EXPECT_NE(s.find("rtrl add  update 1/1000 (0%)"), std::string::npos) << s;
  EXPECT_NE(s.find("update 301/1000 (30%)  30s elapsed, 1m10s left  eval loss 0.5\n"), std::string::npos) << s;
  EXPECT_NE(s.find("update 1000/1000 (100%)  1m40s elapsed, 0s left  eval loss 0.4\n"), std::string::npos) << s;
}

TEST(Progress, ALiveLineOnATerminal) {
  Capture c;
  double now = 0;
  Progress p(c.f, true, 100, "bptt copy", 30, [&] { return now; });
  for (long k = 1; k <= 100; ++k) {
    now = k * 0.01;  // redrawn every 0.1 s at most
    p.update(k, "");
  }
  p.finish(100, "");
  const std::string s = c.text();
  int redraws = 0;
  for (char ch : s) redraws += ch == '\r';
  EXPECT_GE(redraws, 9);
  EXPECT_LE(redraws, 12);
  EXPECT_EQ(s.back(), '\n');
  EXPECT_NE(s.find("\x1b[K"), std::string::npos);  // each redraw clears the rest of the line
}

TEST(Progress, AResumedRunEstimatesFromItsOwnRate) {
  Capture c;
  double now = 0;
  Progress p(c.f, false, 1000, "run", 30, [&] { return now; });
  now = 10;
  p.update(501, "");  // resumed at 500: one update in 10 s
  now = 20;
  p.finish(502, "");
  EXPECT_NE(c.text().find("update 501/1000 (50%)  10s elapsed, 1h23m left"), std::string::npos) << c.text();
}

}  // namespace
}  // namespace credo
