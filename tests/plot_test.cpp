// credo plot and credo report: figures drawn through gnuplot (PNG and SVG) from real result folders, the page of a
// sweep, and bad input.
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/workbench_util.h"

namespace credo::workbench_test {
namespace {

using Plot = ScratchTest;

const std::string kSource = CREDO_SOURCE_DIR;

// Width and height from a PNG's IHDR chunk; {0, 0} if the file is not a PNG.
std::pair<int, int> png_size(const fs::path& p) {
  const std::string b = slurp(p);
  if (b.size() < 24 || b.substr(0, 8) != std::string("\x89PNG\r\n\x1a\n", 8) || b.substr(12, 4) != "IHDR") return {0, 0};
  auto be32 = [&](size_t at) {
    return (static_cast<unsigned char>(b[at]) << 24) | (static_cast<unsigned char>(b[at + 1]) << 16) |
           (static_cast<unsigned char>(b[at + 2]) << 8) | static_cast<unsigned char>(b[at + 3]);
  };
  return {static_cast<int>(be32(16)), static_cast<int>(be32(20))};
}

void expect_figure(const fs::path& dir, const std::string& name, int width, int height) {
  EXPECT_EQ(png_size(dir / (name + ".png")), std::make_pair(width, height)) << name;
  const std::string svg = slurp(dir / (name + ".svg"));
  EXPECT_NE(svg.find("<svg"), std::string::npos) << name;
  EXPECT_NE(svg.find("<path"), std::string::npos) << name;
  EXPECT_NE(svg.find("</svg>"), std::string::npos) << name;
  EXPECT_TRUE(fs::exists(dir / (name + ".gp"))) << name;
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
}

// Two algorithms, two seeds each, a handful of updates.
std::string sweep(const std::string& out) {
  return "compare --model " + kSource + "/models/gru.dot --task delayed_recall --task-opt delay=3 "
         "--algos bptt,tbptt:k1=2:k2=2 --seeds 1,2 --steps 12 --batch 4 --eval-every 3 --eval-batch 32 --lr 0.01 --out " +
         out;
}

TEST_F(Plot, DrawsACompareSweepAsCurvesAndBars) {
  const std::string cmp = path("cmp");
  auto o = credo(sweep(cmp));
  ASSERT_EQ(o.status, 0) << o.output;
  o = credo("plot " + cmp + " --ref 'guess among 2'=0.693");
  ASSERT_EQ(o.status, 0) << o.output;
  const fs::path figs = dir_ / "cmp/figures";
  expect_figure(figs, "curves", 960, 600);
  expect_figure(figs, "bars", 640, 600);
  EXPECT_FALSE(fs::exists(figs / "cost.png"));  // one model size: no cost figure
  const std::string gp = slurp(figs / "curves.gp");
  // The legend names what differs between the runs, with their seed counts; chance and the reference are lines.
  EXPECT_NE(gp.find("'bptt (2 seeds), mean'"), std::string::npos) << gp;
  EXPECT_NE(gp.find("'tbptt:k1=2:k2=2 (2 seeds), mean'"), std::string::npos) << gp;
  EXPECT_NE(gp.find("'chance 1.386'"), std::string::npos) << gp;
  EXPECT_NE(gp.find("'guess among 2 0.693'"), std::string::npos) << gp;
  // The first evaluation of every run is at step 0, with the loss metrics.csv holds.
  const auto summary = nlohmann::json::parse(slurp(dir_ / "cmp/bptt/lr0.01_seed1/summary.json"));
  EXPECT_NE(slurp(figs / "bars.gp").find(fmt::format("{:.9g}", summary["eval_loss"].get<double>())), std::string::npos);
  // The script alone redraws the figure.
  fs::remove(figs / "curves.png");
  o = shell("cd " + figs.string() + " && gnuplot curves.gp");
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_EQ(png_size(figs / "curves.png"), std::make_pair(960, 600));

  // Another metric, on a log scale, into a folder of one's choice.
  o = credo("plot " + cmp + " --metric train_loss --logy --format png --out " + path("tl"));
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_EQ(png_size(dir_ / "tl/curves_train_loss.png"), std::make_pair(960, 600));
  EXPECT_FALSE(fs::exists(dir_ / "tl/curves_train_loss.svg"));
}

TEST_F(Plot, DrawsAlignmentAndCostAgainstSize) {
  auto o = credo("align --model " + kSource + "/models/elman.dot --task add --algos rtrl,uoro,snap:n=1 --steps 200 --out " +
                 path("al"));
  ASSERT_EQ(o.status, 0) << o.output;
  for (const char* m : {"gru", "lstm"}) {
    o = credo("train --model " + kSource + "/models/" + m + ".dot --task delayed_recall --task-opt delay=3 --algo bptt "
              "--steps 3 --batch 4 --eval-batch 16 --out " + path(std::string("sizes/") + m));
    ASSERT_EQ(o.status, 0) << o.output;
  }
  o = credo("plot " + path("al") + " " + path("sizes") + " --out " + path("figs"));
  ASSERT_EQ(o.status, 0) << o.output;
  expect_figure(dir_ / "figs", "align", 960, 760);
  expect_figure(dir_ / "figs", "cost", 1100, 480);
  expect_figure(dir_ / "figs", "curves", 960, 600);
  EXPECT_NE(slurp(dir_ / "figs/align.gp").find("'snap:n=1'"), std::string::npos);
  // The two runs differ in their model: the labels say so.
  EXPECT_NE(slurp(dir_ / "figs/curves.gp").find("title 'gru'"), std::string::npos);
}

TEST_F(Plot, ReportsASweepAsMarkdownAndAsOneHtmlPage) {
  const std::string cmp = path("cmp");
  ASSERT_EQ(credo(sweep(cmp)).status, 0);
  auto o = credo("report " + cmp);
  ASSERT_EQ(o.status, 0) << o.output;
  const std::string md = slurp(dir_ / "cmp/report.md");
  EXPECT_NE(md.find("| setting | runs | eval loss (mean ± sd) | chance | accuracy |"), std::string::npos) << md;
  EXPECT_NE(md.find("| bptt | 2 | "), std::string::npos) << md;
  EXPECT_NE(md.find("| tbptt:k1=2:k2=2 | 2 | "), std::string::npos) << md;
  EXPECT_NE(md.find("| task option delay | 3 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| seeds | 1, 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("![curves](figures/curves.svg)"), std::string::npos) << md;
  EXPECT_NE(md.find("```dot\ndigraph"), std::string::npos) << md;
  EXPECT_TRUE(fs::exists(dir_ / "cmp/figures/bars.svg"));

  o = credo("report " + cmp + " --out " + path("page/sweep.html") + " --title 'GRU on delayed recall'");
  ASSERT_EQ(o.status, 0) << o.output;
  const std::string html = slurp(dir_ / "page/sweep.html");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<h1>GRU on delayed recall</h1>"), std::string::npos);
  size_t svgs = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) ++svgs;
  EXPECT_EQ(svgs, 2u);  // curves and bars, inside the page
  EXPECT_NE(html.find("</html>"), std::string::npos);
}

TEST_F(Plot, BadInputIsRefusedWithStatusTwo) {
  const std::string cmp = path("cmp");
  ASSERT_EQ(credo(sweep(cmp)).status, 0);
  fs::create_directories(dir_ / "empty");
  auto expect2 = [&](const std::string& args, const std::string& needle) {
    const auto o = credo(args);
    EXPECT_EQ(o.status, 2) << args << "\n" << o.output;
    EXPECT_NE(o.output.find(needle), std::string::npos) << args << "\n" << o.output;
  };
  expect2("plot " + path("nothing"), "not a folder");
  expect2("plot " + path("empty"), "holds no credo results");
  expect2("plot " + cmp + " --kind pie", "--kind: 'pie'");
  expect2("plot " + cmp + " --kind align", "--kind align needs an align run");
  expect2("plot " + cmp + " --ref chance=high", "--ref chance=high");
  expect2("plot " + cmp + " --format jpg", "--format: 'jpg'");
  expect2("plot " + cmp + " " + path("empty"), "--out is needed");
  expect2("plot " + cmp + " --metric nonsense", "'nonsense' column");
  expect2("report " + cmp + " --out " + path("r.txt"), "must end in .md or .html");
  const auto o = shell("CREDO_GNUPLOT=/nonexistent/gnuplot " + std::string(CREDO_BINARY) + " plot " + cmp +
                       " --out " + path("ng"));
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("gnuplot not found"), std::string::npos) << o.output;
  EXPECT_FALSE(fs::exists(dir_ / "ng/curves.png"));
  write("cmp/bptt/lr0.01_seed1/summary.json", "{ not json");
  expect2("plot " + cmp, "summary.json: not valid JSON");
}

}  // namespace
}  // namespace credo::workbench_test
