#include "cli/figures.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/npy.h"
#include "framework/results.h"

namespace credo::cli {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Okabe & Ito's palette: distinguishable with every common colour-vision deficiency; yellow last (faint on white).
const std::vector<std::string>& palette() {
  static const std::vector<std::string> p = {"0072B2", "D55E00", "009E73", "CC79A7", "E69F00", "56B4E9", "000000",
                                             "F0E442"};
  return p;
}
const std::string& colour(size_t i) { return palette()[i % palette().size()]; }

nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(npy::read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({})", path, e.what());
  }
}

// Natural order: numbers (digits with an optional decimal fraction) compare by value, so seed2 comes before seed10
// and lr0.003 before lr0.03.
bool natural_less(const std::string& a, const std::string& b) {
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  auto number_end = [&](const std::string& s, size_t i) {
    while (i < s.size() && digit(s[i])) ++i;
    if (i + 1 < s.size() && s[i] == '.' && digit(s[i + 1])) {
      ++i;
      while (i < s.size() && digit(s[i])) ++i;
    }
    return i;
  };
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      const size_t i2 = number_end(a, i), j2 = number_end(b, j);
      const double x = std::stod(a.substr(i, i2 - i)), y = std::stod(b.substr(j, j2 - j));
      if (x != y) return x < y;
      i = i2, j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i, ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::string text_of(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// The algorithm as one would type it: its name and the options that differ from their defaults (an algorithm's own
// seed follows the run's, so it is left out).
std::string algorithm_spec(const nlohmann::json& config) {
  const std::string name = config.value("algorithm", std::string("?"));
  std::string spec = name;
  if (!config.contains("algorithm_options") || !config["algorithm_options"].is_object()) return spec;
  std::map<std::string, std::string> defaults;
  if (AlgorithmRegistry::get().contains(name))
    for (const auto& o : AlgorithmRegistry::get().find(name, "credit algorithm").options) defaults[o.name] = o.default_value;
  for (const auto& [k, v] : config["algorithm_options"].items()) {
    if (k == "seed") continue;
    const std::string value = text_of(v);
    auto it = defaults.find(k);
    if (it != defaults.end() && it->second == value) continue;
    spec += fmt::format(":{}={}", k, value);
  }
  return spec;
}

// What a run is, as (setting, value) pairs in a fixed order; the seed apart.
std::vector<std::pair<std::string, std::string>> facets(const Run& r) {
  std::vector<std::pair<std::string, std::string>> f;
  const auto& c = r.config;
  if (c.contains("model")) f.emplace_back("model", fs::path(text_of(c["model"])).stem().string());
  if (c.contains("task")) f.emplace_back("task", text_of(c["task"]));
  // Task options as "task:k", evaluation-only ones as "eval:k" (labels show "k=v" and "eval k=v").
  for (const char* group : {"task_options", "eval_task_options"})
    if (c.contains(group) && c[group].is_object())
      for (const auto& [k, v] : c[group].items())
        f.emplace_back(fmt::format("{}:{}", group[0] == 't' ? "task" : "eval", k), text_of(v));
  f.emplace_back("algorithm", r.algorithm);
  for (const char* key : {"optimizer", "lr", "batch", "steps", "update", "precision", "clip", "chunk"})
    if (c.contains(key)) f.emplace_back(key, text_of(c[key]));
  return f;
}

std::set<std::string> varying(const std::vector<Run>& runs) {
  std::map<std::string, std::set<std::string>> values;
  std::map<std::string, int> count;
  for (const auto& r : runs)
    for (const auto& [k, v] : facets(r)) values[k].insert(v), ++count[k];
  std::set<std::string> out;
  for (const auto& [k, vs] : values)
    if (vs.size() > 1 || count[k] != static_cast<int>(runs.size())) out.insert(k);
  return out;
}

std::string seed_of(const Run& r) { return r.config.contains("seed") ? text_of(r.config["seed"]) : "?"; }

void label(std::vector<Run>& runs) {
  const auto vary = varying(runs);
  for (auto& r : runs) {
    std::string g;
    for (const auto& [k, v] : facets(r)) {
      if (!vary.count(k)) continue;
      const bool bare = k == "algorithm" || k == "model" || k == "task";
      const std::string key = k.rfind("task:", 0) == 0 ? k.substr(5) : k.rfind("eval:", 0) == 0 ? "eval " + k.substr(5) : k;
      g += (g.empty() ? "" : " ") + (bare ? v : fmt::format("{}={}", key, v));
    }
    r.group = g.empty() ? r.algorithm : g;
  }
}

// A string in a gnuplot script, single-quoted (a quote inside is doubled).
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.9g}", v) : "NaN"; }

// A gnuplot script that draws itself in every format asked for; the data lives in datablocks inside it, so the
// script alone redraws (or, edited, restyles) the figure.
struct Script {
  std::string name, description;
  int width = 960, height = 600;
  std::string data, body;

  void block(const std::string& id, const std::string& rows) { data += fmt::format("${} << EOD\n{}EOD\n", id, rows); }

  std::string text() const {
    return fmt::format(
        "# credo plot: {desc}\n"
        "# Redraw (after editing, too): gnuplot {n}.gp   writes {n}.png and {n}.svg beside it.\n"
        "if (!exists(\"formats\")) formats = \"png svg\"\n"
        "if (!exists(\"png\")) png = \"{n}.png\"\n"
        "if (!exists(\"svg\")) svg = \"{n}.svg\"\n"
        "{data}"
        "do for [f in formats] {{\n"
        "  if (f eq \"png\") {{\n"
        "    set terminal pngcairo size {w},{h} font \"Sans,11\" linewidth 1.2 noenhanced\n"
        "    set output png\n"
        "  }} else {{\n"
        "    set terminal svg size {w},{h} font \"Sans,11\" linewidth 1.2 noenhanced dynamic background rgb \"white\"\n"
        "    set output svg\n"
        "  }}\n"
        "  set border 3 lc rgb \"#555555\"\n"
        "  set tics nomirror out scale 0.6 tc rgb \"#333333\"\n"
        "  set grid xtics ytics lc rgb \"#e6e6e6\" lw 1 dt 1\n"
        "  set key top right box lc rgb \"#cccccc\" opaque reverse Left samplen 2.5 spacing 1.15\n"
        "  set mxtics\n"
        "{body}"
        "  unset output\n"
        "}}\n",
        fmt::arg("desc", description), fmt::arg("n", name), fmt::arg("data", data), fmt::arg("w", width),
        fmt::arg("h", height), fmt::arg("body", body));
  }
};

// Runs gnuplot on OUT/<name>.gp and puts each picture in place atomically.
void draw(const Script& s, const std::string& out, const std::vector<std::string>& formats) {
  write_atomic(out + "/" + s.name + ".gp", s.text());
  const std::string suffix = fmt::format(".tmp{}", ::getpid());
  std::string vars = fmt::format("formats='{}';", fmt::join(formats, " "));
  for (const auto& f : formats) vars += fmt::format(" {}='{}.{}{}';", f, s.name, f, suffix);
  const char* env = std::getenv("CREDO_GNUPLOT");
  const std::string gnuplot = env && *env ? env : "gnuplot";
  int pipefd[2];
  if (::pipe(pipefd) != 0) fail("cannot start gnuplot (no pipe)");
  const std::string script = s.name + ".gp";
  const pid_t pid = ::fork();
  if (pid < 0) fail("cannot start gnuplot (fork failed)");
  if (pid == 0) {
    ::close(pipefd[0]);
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    if (::chdir(out.c_str()) != 0) ::_exit(126);
    ::execlp(gnuplot.c_str(), gnuplot.c_str(), "-e", vars.c_str(), script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipefd[1]);
  std::string said;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) said.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  auto remove_temporaries = [&] {
    for (const auto& f : formats) std::remove((out + "/" + s.name + "." + f + suffix).c_str());
  };
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    remove_temporaries();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && said.empty())
      fail("gnuplot not found (looked for '{}'): install Debian's gnuplot-nox (scripts/setup.sh does) or set "
           "CREDO_GNUPLOT; the figure's script is {}/{}.gp",
           gnuplot, out, s.name);
    fail("gnuplot failed on {}/{}.gp:\n{}", out, s.name, said);
  }
  for (const auto& f : formats) {
    const std::string tmp = out + "/" + s.name + "." + f + suffix, dst = out + "/" + s.name + "." + f;
    std::error_code ec;
    if (!fs::exists(tmp, ec) || fs::file_size(tmp, ec) == 0) {
      remove_temporaries();
      fail("gnuplot drew no {} for {}/{}.gp:\n{}", f, out, s.name, said);
    }
    fs::rename(tmp, dst, ec);
    if (ec) fail("{}: cannot replace the file ({})", dst, ec.message());
  }
}

std::string metric_label(const std::string& m) {
  if (m == "eval_loss") return "evaluation loss (per scored output)";
  if (m == "train_loss") return "training loss (per scored output)";
  if (m == "eval_accuracy") return "evaluation accuracy";
  std::string s = m;
  std::replace(s.begin(), s.end(), '_', ' ');
  return s;
}

std::string title(const FigureOptions& o, const std::string& what) {
  return o.title.empty() ? what : o.title + ": " + what;
}

// Horizontal lines: the chance level(s) and named references, as plot elements.
std::string level_lines(const std::vector<Run>& runs, const FigureOptions& o, bool chance) {
  std::string out;
  if (chance) {
    std::set<double> levels;
    for (const auto& r : runs)
      if (std::isfinite(r.number("chance_loss"))) levels.insert(r.number("chance_loss"));
    for (double c : levels)
      out += fmt::format(", {} with lines dt 2 lw 1.5 lc rgb \"#777777\" title {}", num(c),
                         quote(fmt::format("chance {:.4g}", c)));
  }
  std::vector<std::pair<std::string, double>> refs = o.references;
  for (const auto& r : runs)
    if (r.summary.contains("reference_losses") && r.summary["reference_losses"].is_object())
      for (const auto& item : r.summary["reference_losses"].items()) {
        const std::string k = item.key();
        const auto& v = item.value();
        if (v.is_number() &&
            std::none_of(refs.begin(), refs.end(), [&](const auto& p) { return p.first == k && p.second == v.get<double>(); }))
          refs.emplace_back(k, v.get<double>());
      }
  // Each reference its own dash pattern.
  for (size_t k = 0; k < refs.size(); ++k)
    out += fmt::format(", {} with lines dt {} lw 1.5 lc rgb \"#333333\" title {}", num(refs[k].second), 3 + k % 3,
                       quote(fmt::format("{} {:.4g}", refs[k].first, refs[k].second)));
  return out;
}

Figure curves(const Results& res, const std::string& out, const FigureOptions& o) {
  const auto groups = group_runs(res.runs);
  Script s;
  s.name = o.metric == "eval_loss" ? "curves" : "curves_" + o.metric;
  s.description = "learning curves, " + metric_label(o.metric) + " against parameter updates";
  std::string rows, plots;
  int index = 0;
  bool any = false;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const auto& g = groups[gi];
    // Each seed thin and pale; their mean bold, when every seed was evaluated at the same steps.
    std::vector<std::vector<std::pair<double, double>>> series;
    for (const Run* r : g.runs) {
      const int sc = r->metrics.column("step"), mc = r->metrics.column(o.metric);
      if (sc < 0 || mc < 0) continue;
      std::vector<std::pair<double, double>> pts;
      for (size_t i = 0; i < r->metrics.rows.size(); ++i)
        if (std::isfinite(r->metrics.number(i, mc))) pts.emplace_back(r->metrics.number(i, sc), r->metrics.number(i, mc));
      series.push_back(pts);
    }
    if (series.empty()) continue;
    any = true;
    const bool several = series.size() > 1;
    bool same_steps = several;
    for (const auto& p : series)
      if (p.size() != series[0].size()) same_steps = false;
    for (size_t i = 0; same_steps && i < series[0].size(); ++i)
      for (const auto& p : series)
        if (p[i].first != series[0][i].first) same_steps = false;
    const std::string name = several ? fmt::format("{} ({} seeds)", g.label, series.size()) : g.label;
    for (size_t k = 0; k < series.size(); ++k) {
      for (const auto& [x, y] : series[k]) rows += fmt::format("{} {}\n", num(x), num(y));
      rows += "\n\n";
      const bool alone = !several || !same_steps;
      plots += fmt::format("{}$curves index {} using 1:2 with lines lw {} lc rgb \"#{}{}\" {}", plots.empty() ? "" : ", ",
                           index++, alone ? 2.2 : 1.0, several ? "A0" : "", colour(gi),
                           alone && k == 0 ? "title " + quote(name) : "notitle");
    }
    if (several && same_steps) {
      for (size_t i = 0; i < series[0].size(); ++i) {
        double m = 0;
        for (const auto& p : series) m += p[i].second;
        rows += fmt::format("{} {}\n", num(series[0][i].first), num(m / static_cast<double>(series.size())));
      }
      rows += "\n\n";
      plots += fmt::format(", $curves index {} using 1:2 with lines lw 2.4 lc rgb \"#{}\" title {}", index++,
                           colour(gi), quote(name + ", mean"));
    }
  }
  if (!any) fail("no run read holds a '{}' column in its metrics.csv", o.metric);
  s.block("curves", rows);
  s.body = fmt::format("  set title {}\n  set xlabel 'parameter updates'\n  set ylabel {}\n{}  plot {}{}\n",
                       quote(title(o, s.description)), quote(metric_label(o.metric)),
                       o.log_y ? "  set logscale y\n" : "", plots, level_lines(res.runs, o, o.metric == "eval_loss"));
  draw(s, out, o.formats);
  return {s.name, fmt::format("{} of every run; a pale line per seed and their mean in bold where there are several{}",
                              metric_label(o.metric),
                              o.metric == "eval_loss" ? "; dashed: the task's chance (memoryless) loss" : "")};
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? kNaN : s / static_cast<double>(v.size());
}
double sd_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

Figure bars(const Results& res, const std::string& out, const FigureOptions& o) {
  const auto groups = group_runs(res.runs);
  Script s;
  s.name = "bars";
  s.description = "final evaluation loss per setting, mean and standard deviation over seeds";
  s.width = std::max(640, std::min(1600, 260 + 150 * static_cast<int>(groups.size())));
  std::string bars, seeds;
  size_t longest = 0;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    std::vector<double> v;
    for (const Run* r : groups[gi].runs)
      if (std::isfinite(r->number("eval_loss"))) v.push_back(r->number("eval_loss"));
    for (size_t k = 0; k < v.size(); ++k) {
      // Seeds spread a little sideways, so equal values stay visible.
      const double dx = v.size() > 1 ? 0.36 * (static_cast<double>(k) / static_cast<double>(v.size() - 1) - 0.5) : 0;
      seeds += fmt::format("{} {}\n", num(static_cast<double>(gi) + dx), num(v[k]));
    }
    std::string label = groups[gi].label;
    std::replace(label.begin(), label.end(), '"', '\'');
    longest = std::max(longest, label.size());
    bars += fmt::format("{} \"{}\" {} {} {}\n", gi, label, num(mean_of(v)), num(sd_of(v)),
                        std::stoul(colour(gi), nullptr, 16));
  }
  if (seeds.empty()) seeds = "NaN NaN\n";
  s.block("bars", bars);
  s.block("seeds", seeds);
  s.body = fmt::format(
      "  set title {}\n  set ylabel 'final evaluation loss'\n  set style fill solid 0.8 border -1\n"
      "  set xrange [-0.6:{}]\n  set yrange [0:*]\n  set grid noxtics\n  unset mxtics\n{}"
      "  set xtics scale 0\n"
      "  plot $bars using 1:3:(0.62):5:xtic(2) with boxes lc rgb variable notitle, "
      "$bars using 1:($3-$4):(0):(2*$4) with vectors nohead lw 1.6 lc rgb \"#222222\" notitle, "
      "$bars using ($1-0.07):($3+$4):(0.14):(0) with vectors nohead lw 1.6 lc rgb \"#222222\" notitle, "
      "$bars using ($1-0.07):($3-$4):(0.14):(0) with vectors nohead lw 1.6 lc rgb \"#222222\" notitle, "
      "$seeds using 1:2 with points pt 7 ps 0.8 lc rgb \"#222222\" title 'each seed'{}\n",
      quote(title(o, s.description)), num(static_cast<double>(groups.size()) - 0.4),
      longest > 12 ? "  set xtics rotate by 25 right\n  set bmargin 8\n  set lmargin 14\n" : "", level_lines(res.runs, o, true));
  draw(s, out, o.formats);
  return {s.name, "final evaluation loss of each setting: bar at the mean over seeds, whiskers one standard deviation, "
                  "a dot per seed; dashed: chance"};
}

Figure cost(const Results& res, const std::string& out, const FigureOptions& o) {
  Script s;
  s.name = "cost";
  s.description = "cost against model size";
  s.width = 1100;
  s.height = 480;
  std::vector<std::string> algos;
  for (const auto& r : res.runs)
    if (std::find(algos.begin(), algos.end(), r.algorithm) == algos.end()) algos.push_back(r.algorithm);
  std::string rows, time_plots, rss_plots;
  for (size_t a = 0; a < algos.size(); ++a) {
    // Mean over the runs of each size (seeds, learning rates), by parameter count.
    std::map<double, std::pair<std::vector<double>, std::vector<double>>> by_size;
    for (const auto& r : res.runs) {
      if (r.algorithm != algos[a]) continue;
      const double p = r.number("param_count"), sps = r.number("steps_per_second"), rss = r.number("peak_rss_mb");
      if (!std::isfinite(p) || !(sps > 0)) continue;
      by_size[p].first.push_back(1e6 / sps);
      by_size[p].second.push_back(rss);
    }
    for (const auto& [p, v] : by_size) rows += fmt::format("{} {} {}\n", num(p), num(mean_of(v.first)), num(mean_of(v.second)));
    rows += "\n\n";
    const std::string style = fmt::format("with linespoints pt 7 ps 1 lw 2 lc rgb \"#{}\" title {}", colour(a), quote(algos[a]));
    time_plots += fmt::format("{}$cost index {} using 1:2 {}", a ? ", " : "", a, style);
    rss_plots += fmt::format("{}$cost index {} using 1:3 {}", a ? ", " : "", a, style);
  }
  s.block("cost", rows);
  s.body = fmt::format(
      "  set multiplot layout 1,2 title {}\n  set logscale xy\n  set xlabel 'parameters'\n  set key top left\n"
      "  set ylabel 'microseconds per time step (whole batch)'\n  plot {}\n"
      "  set ylabel 'peak resident memory (MB)'\n  plot {}\n  unset multiplot\n  unset logscale\n",
      quote(title(o, s.description)), time_plots, rss_plots);
  draw(s, out, o.formats);
  return {s.name, "training time per time step (left) and peak memory (right) against the number of parameters, per "
                  "algorithm, averaged over the runs of each size"};
}

Figure alignment(const AlignRun& a, const std::string& name, const std::string& out, const FigureOptions& o) {
  Script s;
  s.name = name;
  s.description = fmt::format("gradient alignment with RTRL's exact gradient along one trajectory ({})", a.dir);
  s.height = 760;
  const int sc = a.rows.column("step"), ac = a.rows.column("algorithm"), cc = a.rows.column("cosine"),
            rc = a.rows.column("norm_ratio");
  if (sc < 0 || ac < 0 || cc < 0 || rc < 0) fail("{}/alignment.csv: not the columns credo align writes", a.dir);
  std::vector<std::string> algos;
  for (const auto& row : a.rows.rows)
    if (std::find(algos.begin(), algos.end(), row[static_cast<size_t>(ac)]) == algos.end())
      algos.push_back(row[static_cast<size_t>(ac)]);
  std::string rows, cos_plots, ratio_plots;
  long window = 1;
  for (size_t k = 0; k < algos.size(); ++k) {
    std::vector<std::array<double, 3>> pts;
    for (size_t i = 0; i < a.rows.rows.size(); ++i)
      if (a.rows.rows[i][static_cast<size_t>(ac)] == algos[k])
        pts.push_back({a.rows.number(i, sc), a.rows.number(i, cc), a.rows.number(i, rc)});
    // A running mean over a fiftieth of the samples: per-step cosines of stochastic estimates are noise.
    window = std::max<long>(1, static_cast<long>(pts.size()) / 50);
    double sum_c = 0, sum_r = 0;
    long n = 0;
    for (size_t i = 0; i < pts.size(); ++i) {
      sum_c += pts[i][1], sum_r += std::log(std::max(pts[i][2], 1e-300)), ++n;
      if (n > window) {
        sum_c -= pts[i - static_cast<size_t>(window)][1];
        sum_r -= std::log(std::max(pts[i - static_cast<size_t>(window)][2], 1e-300));
        --n;
      }
      rows += fmt::format("{} {} {}\n", num(pts[i][0]), num(sum_c / static_cast<double>(n)),
                          num(std::exp(sum_r / static_cast<double>(n))));
    }
    rows += "\n\n";
    const std::string style = fmt::format("with lines lw 2 lc rgb \"#{}\" title {}", colour(k), quote(algos[k]));
    cos_plots += fmt::format("{}$align index {} using 1:2 {}", k ? ", " : "", k, style);
    ratio_plots += fmt::format("{}$align index {} using 1:3 {}", k ? ", " : "", k, style);
  }
  s.block("align", rows);
  s.body = fmt::format(
      "  set multiplot layout 2,1 title {}\n  set xlabel 'time step'\n  set key outside right top\n"
      "  set ylabel 'cosine with exact gradient'\n  set yrange [-1.05:1.05]\n  plot {}, 0 with lines lc rgb \"#999999\" notitle\n"
      "  set ylabel 'norm ratio |g| / |g_exact|'\n  set yrange [*:*]\n  set logscale y\n  plot {}, 1 with lines lc rgb \"#999999\" notitle\n"
      "  unset logscale y\n  unset multiplot\n",
      quote(title(o, s.description)), cos_plots, ratio_plots);
  draw(s, out, o.formats);
  return {s.name, "each algorithm's gradient against RTRL's exact online gradient along the driving algorithm's "
                  "trajectory: cosine (top) and norm ratio (bottom, log scale), running means over a fiftieth of the run"};
}

}  // namespace

int Table::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

double Table::number(size_t row, int col) const {
  if (col < 0 || row >= rows.size() || static_cast<size_t>(col) >= rows[row].size()) return kNaN;
  const std::string& cell = rows[row][static_cast<size_t>(col)];
  if (cell.empty()) return kNaN;
  char* end = nullptr;
  const double v = std::strtod(cell.c_str(), &end);
  return end && *end == '\0' ? v : kNaN;
}

Table read_csv(const std::string& path) {
  const std::string text = npy::read_file(path);
  Table t;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false, any = false;
  for (size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : '\n';
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') cell += '"', ++i;
      else if (c == '"') quoted = false;
      else cell += c;
      continue;
    }
    if (c == '"') {
      quoted = true, any = true;
    } else if (c == ',') {
      row.push_back(cell), cell.clear(), any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !cell.empty()) {
        row.push_back(cell);
        if (t.header.empty()) t.header = row;
        else t.rows.push_back(row);
      }
      row.clear(), cell.clear(), any = false;
    } else {
      cell += c;
    }
  }
  if (quoted) fail("{}: a quoted field is not closed", path);
  if (t.header.empty()) fail("{}: empty (no header line)", path);
  return t;
}

double Run::number(const char* key) const {
  if (!summary.contains(key) || !summary[key].is_number()) return kNaN;
  return summary[key].get<double>();
}

Results find_results(const std::vector<std::string>& dirs) {
  Results res;
  std::set<std::string> seen;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) fail("{}: not a folder (give result folders of credo train, compare or align)", dir);
    std::vector<fs::path> folders = {fs::path(dir)};
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_directory(ec)) continue;
      const auto leaf = it->path().filename().string();
      // Recordings and figures hold no runs.
      if (leaf == "record" || leaf == "figures") {
        it.disable_recursion_pending();
        continue;
      }
      folders.push_back(it->path());
    }
    std::sort(folders.begin(), folders.end(),
              [](const fs::path& a, const fs::path& b) { return natural_less(a.string(), b.string()); });
    const size_t before = res.runs.size() + res.aligns.size();
    for (const auto& f : folders) {
      const std::string d = f.lexically_normal().string();
      if (!seen.insert(fs::weakly_canonical(f, ec).string()).second) continue;
      if (fs::exists(f / "alignment.csv", ec) && fs::exists(f / "summary.json", ec)) {
        res.aligns.push_back({d, read_json((f / "summary.json").string()), read_csv((f / "alignment.csv").string())});
      } else if (fs::exists(f / "summary.json", ec) && fs::exists(f / "config.json", ec) &&
                 fs::exists(f / "metrics.csv", ec)) {
        Run r;
        r.dir = d;
        r.config = read_json((f / "config.json").string());
        r.summary = read_json((f / "summary.json").string());
        r.metrics = read_csv((f / "metrics.csv").string());
        if (!r.config.is_object() || !r.summary.is_object())
          fail("{}: config.json and summary.json should each hold a JSON object", d);
        r.algorithm = algorithm_spec(r.config);
        res.runs.push_back(std::move(r));
      }
    }
    if (res.runs.size() + res.aligns.size() == before)
      fail("{}: holds no credo results (a train run's summary.json, config.json and metrics.csv, or an align run's "
           "alignment.csv), nor does any folder under it",
           dir);
  }
  label(res.runs);
  return res;
}

std::vector<Group> group_runs(const std::vector<Run>& runs) {
  std::vector<Group> out;
  for (const auto& r : runs) {
    auto it = std::find_if(out.begin(), out.end(), [&](const Group& g) { return g.label == r.group; });
    if (it == out.end()) out.push_back({r.group, {&r}});
    else it->runs.push_back(&r);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> shared_settings(const std::vector<Run>& runs) {
  std::vector<std::pair<std::string, std::string>> out;
  if (runs.empty()) return out;
  const auto vary = varying(runs);
  for (const auto& [k, v] : facets(runs.front())) {
    if (vary.count(k)) continue;
    if (k.rfind("task:", 0) == 0) out.emplace_back("task option " + k.substr(5), v);
    else if (k.rfind("eval:", 0) == 0) out.emplace_back("evaluation-only task option " + k.substr(5), v);
    else out.emplace_back(k, v);
  }
  std::vector<std::string> seeds;
  for (const auto& r : runs)
    if (std::find(seeds.begin(), seeds.end(), seed_of(r)) == seeds.end()) seeds.push_back(seed_of(r));
  out.emplace_back(seeds.size() > 1 ? "seeds" : "seed", fmt::format("{}", fmt::join(seeds, ", ")));
  return out;
}

std::vector<Figure> draw_figures(const Results& res, const std::string& out, const FigureOptions& o,
                                 const std::vector<std::string>& kinds) {
  for (const auto& f : o.formats)
    if (f != "png" && f != "svg") fail("--format: '{}' is not png or svg", f);
  if (o.formats.empty()) fail("--format is empty: png, svg or both");
  const bool all = std::find(kinds.begin(), kinds.end(), "auto") != kinds.end();
  auto want = [&](const char* k) { return std::find(kinds.begin(), kinds.end(), k) != kinds.end(); };
  for (const auto& k : kinds)
    if (k != "auto" && k != "curves" && k != "bars" && k != "cost" && k != "align")
      fail("--kind: '{}' is not auto, curves, bars, cost or align", k);
  const auto groups = group_runs(res.runs);
  std::set<double> sizes;
  for (const auto& r : res.runs)
    if (std::isfinite(r.number("param_count"))) sizes.insert(r.number("param_count"));
  bool seeds = false;
  for (const auto& g : groups) seeds = seeds || g.runs.size() > 1;
  if (!all) {
    if ((want("curves") || want("bars") || want("cost")) && res.runs.empty())
      fail("--kind curves, bars and cost need train runs (folders with metrics.csv and summary.json)");
    if (want("align") && res.aligns.empty()) fail("--kind align needs an align run (a folder with alignment.csv)");
  }
  prepare_output_dir(out);
  std::vector<Figure> figs;
  if (!res.runs.empty() && (all || want("curves"))) figs.push_back(curves(res, out, o));
  if (!res.runs.empty() && (want("bars") || (all && (groups.size() > 1 || seeds)))) figs.push_back(bars(res, out, o));
  if (!res.runs.empty() && (want("cost") || (all && sizes.size() > 1))) figs.push_back(cost(res, out, o));
  if (all || want("align"))
    for (size_t i = 0; i < res.aligns.size(); ++i)
      figs.push_back(alignment(res.aligns[i], i == 0 ? "align" : fmt::format("align_{}", i + 1), out, o));
  return figs;
}

}  // namespace credo::cli
