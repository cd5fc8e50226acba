// Result folders read back for figures and reports (training runs, compare sweeps, alignment runs), and the
// figures themselves: gnuplot scripts with their data inside, drawn as PNG and SVG.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace credo::cli {

// A CSV file as credo writes them: a header, then rows; fields may be quoted ("tbptt:k1=1,k2=10").
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  int column(const std::string& name) const;  // -1 if absent
  double number(size_t row, int column) const;  // NaN if the cell is empty, absent or not a number
};
Table read_csv(const std::string& path);

// One `credo train` run folder.
struct Run {
  std::string dir;
  nlohmann::json config, summary;
  Table metrics;
  std::string algorithm;  // the algorithm as typed: name, then options that differ from the defaults
  std::string group;      // what sets it apart from the other runs read with it, seed aside
  double number(const char* key) const;  // a number of summary.json, NaN if absent or null
};

// One `credo align` run folder.
struct AlignRun {
  std::string dir;
  nlohmann::json summary;
  Table rows;  // step, algorithm, cosine, norm_ratio
};

struct Results {
  std::vector<Run> runs;
  std::vector<AlignRun> aligns;
};

// Every run under each folder (searched recursively), labelled by what varies among them; a folder holding no
// credo results, or a result file that cannot be read, is an InputError naming it.
Results find_results(const std::vector<std::string>& dirs);

// Runs that differ only in their seed, in the order first seen.
struct Group {
  std::string label;
  std::vector<const Run*> runs;
};
std::vector<Group> group_runs(const std::vector<Run>& runs);

// The settings every run shares, and those that vary (the ones group labels are made of), as key -> value text.
std::vector<std::pair<std::string, std::string>> shared_settings(const std::vector<Run>& runs);

struct FigureOptions {
  std::vector<std::string> formats = {"png", "svg"};
  std::vector<std::pair<std::string, double>> references;  // named loss levels drawn as lines (--ref)
  std::string metric = "eval_loss";  // the metrics.csv column learning curves show
  bool log_y = false;
  std::string title;  // prefix of every figure's title
};

// A figure drawn: its base name (OUT/<name>.gp, .png, .svg) and a caption.
struct Figure {
  std::string name;
  std::string caption;
};

// Draws the figures `kinds` asks for ("auto", or any of curves, bars, cost, align) into `out`. With "auto": learning
// curves of every run, bars when several groups or seeds are compared, cost against size when the runs' models
// differ in size, and alignment for align runs.
std::vector<Figure> draw_figures(const Results& results, const std::string& out, const FigureOptions& options,
                                 const std::vector<std::string>& kinds);

}  // namespace credo::cli
