// Gradient alignment: an exact algorithm aligns perfectly with the reference, truncation measurably less.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "framework/align.h"

namespace credo {
namespace {

TEST(Align, ExactIsAlignedAndTruncationIsNot) {
  AlignConfig c;
  c.model = std::string(CREDO_SOURCE_DIR) + "/models/elman.dot";
  c.task = "add";
  c.algorithms = {"rtrl", "tbptt:k1=1,k2=1", "tbptt:k1=1,k2=30", "readout"};
  c.steps = 600;
  c.out = (std::filesystem::temp_directory_path() / ("credo_align_" + std::to_string(::getpid()))).string();
  const auto rows = align(c);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].samples, 600);
  EXPECT_GT(rows[0].mean_cosine, 1 - 1e-9);
  EXPECT_NEAR(rows[0].mean_norm_ratio, 1.0, 1e-9);
  // One-step truncation loses credit; a 30-step horizon keeps nearly all of it on this task (lags 5 and 9).
  EXPECT_LT(rows[1].mean_cosine, 0.99);
  EXPECT_GT(rows[2].mean_cosine, rows[1].mean_cosine);
  EXPECT_GT(rows[2].mean_cosine, 0.95);
  EXPECT_LT(rows[3].mean_cosine, rows[1].mean_cosine);
  EXPECT_TRUE(std::filesystem::exists(c.out + "/alignment.csv"));
  EXPECT_TRUE(std::filesystem::exists(c.out + "/summary.json"));
  std::filesystem::remove_all(c.out);
}

}  // namespace
}  // namespace credo
