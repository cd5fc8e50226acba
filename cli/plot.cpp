// credo plot and credo report: figures of result folders, and one page of a sweep with its figures and tables.
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/figures.h"
#include "framework/error.h"
#include "framework/npy.h"
#include "framework/options.h"
#include "framework/results.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace credo::cli {

namespace {

struct FigureArgs {
  std::vector<std::string> dirs;
  std::string kinds = "auto", formats = "png,svg", metric = "eval_loss", title;
  std::vector<std::string> refs;
  bool log_y = false;
};

void add_figure_options(po::options_description& d, FigureArgs& a) {
  d.add_options()("dirs", po::value(&a.dirs)->multitoken(), "result folders (train, compare or align runs)")(
      "kind", po::value(&a.kinds)->default_value("auto"),
      "figures: auto, or any of curves, bars, cost, align (comma-separated)")(
      "metric", po::value(&a.metric)->default_value("eval_loss"),
      "the metrics.csv column learning curves show (eval_loss, train_loss, eval_accuracy, a task's metric)")(
      "ref", po::value(&a.refs)->composing(), "a named loss level drawn as a line, NAME=VALUE (repeatable)")(
      "logy", po::bool_switch(&a.log_y), "learning curves on a logarithmic y axis")(
      "title", po::value(&a.title), "a title put before every figure's own");
}

FigureOptions figure_options(const FigureArgs& a) {
  FigureOptions o;
  o.formats = split_list(a.formats, ",");
  o.metric = a.metric;
  o.log_y = a.log_y;
  o.title = a.title;
  for (const auto& [name, value] : parse_key_values(a.refs, "--ref")) {
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !std::isfinite(v)) fail("--ref {}={}: the value is not a number", name, value);
    o.references.emplace_back(name, v);
  }
  return o;
}

bool parse(const Args& args, po::options_description& d, const char* usage, const char* about) {
  po::positional_options_description pos;
  pos.add("dirs", -1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(d).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << usage << "\n\n" << about << "\n\n" << d << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

std::string number_text(double v, const char* format = "{:.4g}") {
  return std::isfinite(v) ? fmt::format(fmt::runtime(format), v) : "-";
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? std::nan("") : s / static_cast<double>(v.size());
}

std::string mean_sd(const std::vector<double>& v) {
  if (v.empty()) return "-";
  const double m = mean(v);
  if (v.size() == 1) return number_text(m);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return fmt::format("{} ± {}", number_text(m), number_text(std::sqrt(s / static_cast<double>(v.size() - 1))));
}

// A page: sections of text, tables and figures, rendered as Markdown or as one self-contained HTML page.
struct Table2 {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};
struct Section {
  std::string heading, text;
  std::vector<Table2> tables;
  std::vector<Figure> figures;
  std::string code;  // preformatted, e.g. the model
};

std::string md_cell(std::string s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : c == '\n' ? std::string(" ") : std::string(1, c);
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string markdown(const std::string& title, const std::string& intro, const std::vector<Section>& sections,
                     const std::string& figure_dir) {
  std::string s = fmt::format("# {}\n\n{}\n", title, intro);
  for (const auto& sec : sections) {
    s += fmt::format("\n## {}\n\n", sec.heading);
    if (!sec.text.empty()) s += sec.text + "\n\n";
    for (const auto& t : sec.tables) {
      std::vector<std::string> h, sep;
      for (const auto& c : t.header) h.push_back(md_cell(c)), sep.push_back("---");
      s += fmt::format("| {} |\n| {} |\n", fmt::join(h, " | "), fmt::join(sep, " | "));
      for (const auto& r : t.rows) {
        std::vector<std::string> cells;
        for (const auto& c : r) cells.push_back(md_cell(c));
        s += fmt::format("| {} |\n", fmt::join(cells, " | "));
      }
      s += "\n";
    }
    for (const auto& f : sec.figures)
      s += fmt::format("![{}]({}/{}.svg)\n\n*{}* (PNG: [{}.png]({}/{}.png); gnuplot script: [{}.gp]({}/{}.gp))\n\n",
                       f.name, figure_dir, f.name, f.caption, f.name, figure_dir, f.name, f.name, figure_dir, f.name);
    if (!sec.code.empty()) s += fmt::format("```dot\n{}```\n", sec.code);
  }
  return s;
}

std::string html(const std::string& title, const std::string& intro, const std::vector<Section>& sections,
                 const std::string& figure_path) {
  std::string s = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n"
      "body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; "
      "line-height: 1.45; }}\n"
      "table {{ border-collapse: collapse; margin: 0.6em 0 1.4em; font-size: 0.92em; }}\n"
      "th, td {{ border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; }}\n"
      "th {{ background: #f3f3f3; }}\nfigure {{ margin: 1em 0 2em; }}\nfigcaption {{ color: #555; font-size: 0.9em; }}\n"
      "figure svg {{ max-width: 100%; height: auto; }}\npre {{ background: #f6f6f6; padding: 0.8em; overflow-x: auto; }}\n"
      "</style>\n</head>\n<body>\n<h1>{}</h1>\n<p>{}</p>\n",
      html_escape(title), html_escape(title), html_escape(intro));
  for (const auto& sec : sections) {
    s += fmt::format("<h2>{}</h2>\n", html_escape(sec.heading));
    if (!sec.text.empty()) s += fmt::format("<p>{}</p>\n", html_escape(sec.text));
    for (const auto& t : sec.tables) {
      s += "<table>\n<tr>";
      for (const auto& c : t.header) s += fmt::format("<th>{}</th>", html_escape(c));
      s += "</tr>\n";
      for (const auto& r : t.rows) {
        s += "<tr>";
        for (const auto& c : r) s += fmt::format("<td>{}</td>", html_escape(c));
        s += "</tr>\n";
      }
      s += "</table>\n";
    }
    // The SVGs go inside the page, so the page is one file.
    for (const auto& f : sec.figures) {
      std::string svg = npy::read_file(figure_path + "/" + f.name + ".svg");
      if (const auto at = svg.find("<svg"); at != std::string::npos) svg = svg.substr(at);
      s += fmt::format("<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n", svg, html_escape(f.caption));
    }
    if (!sec.code.empty()) s += fmt::format("<pre>{}</pre>\n", html_escape(sec.code));
  }
  return s + "</body>\n</html>\n";
}

std::string today() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&t));
  return buf;
}

}  // namespace

int plot_command(const Args& args) {
  FigureArgs a;
  std::string out;
  po::options_description d("credo plot options");
  d.add_options()("help,h", "show this help")(
      "out", po::value(&out), "folder for the figures (default: DIR/figures with one DIR)")(
      "format", po::value(&a.formats)->default_value("png,svg"), "png, svg or both");
  add_figure_options(d, a);
  if (!parse(args, d, "usage: credo plot DIR... [--out FOLDER] [--kind auto|curves,bars,cost,align] [--ref NAME=VALUE]",
             "Draws learning curves (with the chance level and named reference levels), final losses as bars with\n"
             "their seed spread, cost against model size and gradient alignment over steps, through gnuplot. Each\n"
             "figure's gnuplot script (with its data) is written beside it, to restyle and redraw."))
    return 0;
  if (a.dirs.empty()) fail("give at least one result folder (credo plot DIR...)");
  if (out.empty()) {
    if (a.dirs.size() > 1) fail("--out is needed with several folders: where should the figures go?");
    out = (fs::path(a.dirs[0]) / "figures").string();
  }
  const FigureOptions o = figure_options(a);
  const Results res = find_results(a.dirs);
  const auto figs = draw_figures(res, out, o, split_list(a.kinds, ","));
  fmt::print("{} run{} and {} alignment run{} read\n", res.runs.size(), res.runs.size() == 1 ? "" : "s",
             res.aligns.size(), res.aligns.size() == 1 ? "" : "s");
  for (const auto& f : figs)
    fmt::print("{}/{}.{{{}}}  {}\n", out, f.name, fmt::join(o.formats, ","), f.caption);
  return 0;
}

int report_command(const Args& args) {
  FigureArgs a;
  std::string out;
  po::options_description d("credo report options");
  d.add_options()("help,h", "show this help")(
      "out", po::value(&out), "the page: a .md or .html file (default: DIR/report.md); figures go to figures/ beside it");
  add_figure_options(d, a);
  if (!parse(args, d, "usage: credo report DIR... [--out REPORT.md|REPORT.html]",
             "Writes one page of a sweep (a compare folder, several runs, an align run): the shared settings, a table\n"
             "of every setting's results over seeds, the figures of credo plot, alignment tables, every run, and the\n"
             "model. Markdown links the figures; HTML holds them, so the page is one file."))
    return 0;
  if (a.dirs.empty()) fail("give at least one result folder (credo report DIR...)");
  if (out.empty()) out = (fs::path(a.dirs[0]) / "report.md").string();
  const std::string ext = fs::path(out).extension().string();
  if (ext != ".md" && ext != ".html") fail("--out {}: the page must end in .md or .html", out);
  const bool as_html = ext == ".html";
  fs::path page_dir = fs::path(out).parent_path();
  if (page_dir.empty()) page_dir = ".";
  prepare_output_dir(page_dir.string());
  const std::string figure_dir = (page_dir / "figures").string();
  const Results res = find_results(a.dirs);
  FigureOptions o = figure_options(a);
  o.formats = {"png", "svg"};
  const auto figs = draw_figures(res, figure_dir, o, split_list(a.kinds, ","));

  std::vector<Section> sections;
  const auto groups = group_runs(res.runs);
  if (!res.runs.empty()) {
    Section setup{"Setup", "Settings every run shares; the results below differ in the others.", {}, {}, {}};
    Table2 t{{"setting", "value"}, {}};
    for (const auto& [k, v] : shared_settings(res.runs)) t.rows.push_back({k, v});
    setup.tables.push_back(t);
    sections.push_back(setup);

    // One row per setting, over its seeds; the task's own metrics as extra columns.
    std::vector<std::string> metric_names;
    for (const auto& r : res.runs)
      if (r.summary.contains("eval_metrics") && r.summary["eval_metrics"].is_object())
        for (const auto& [k, v] : r.summary["eval_metrics"].items())
          if (std::find(metric_names.begin(), metric_names.end(), k) == metric_names.end()) metric_names.push_back(k);
    Table2 results{{"setting", "runs", "eval loss (mean ± sd)", "chance", "accuracy"}, {}};
    for (const auto& m : metric_names) results.header.push_back(m);
    for (const char* h : {"steps/s", "peak RSS MB", "status"}) results.header.push_back(h);
    for (const auto& g : groups) {
      std::vector<double> loss, acc, sps, rss;
      std::map<std::string, std::vector<double>> metrics;
      std::map<std::string, int> status;
      for (const Run* r : g.runs) {
        if (std::isfinite(r->number("eval_loss"))) loss.push_back(r->number("eval_loss"));
        if (std::isfinite(r->number("eval_accuracy"))) acc.push_back(r->number("eval_accuracy"));
        if (std::isfinite(r->number("steps_per_second"))) sps.push_back(r->number("steps_per_second"));
        if (std::isfinite(r->number("peak_rss_mb"))) rss.push_back(r->number("peak_rss_mb"));
        for (const auto& m : metric_names)
          if (r->summary.contains("eval_metrics") && r->summary["eval_metrics"].contains(m) &&
              r->summary["eval_metrics"][m].is_number())
            metrics[m].push_back(r->summary["eval_metrics"][m].get<double>());
        ++status[r->summary.value("status", std::string("finished"))];
      }
      std::string st;
      for (const auto& [k, n] : status) st += fmt::format("{}{} {}", st.empty() ? "" : ", ", n, k);
      std::vector<std::string> row = {g.label, std::to_string(g.runs.size()), mean_sd(loss),
                                      number_text(g.runs[0]->number("chance_loss")), mean_sd(acc)};
      for (const auto& m : metric_names) row.push_back(mean_sd(metrics[m]));
      row.push_back(number_text(mean(sps), "{:.0f}"));
      row.push_back(number_text(rss.empty() ? std::nan("") : *std::max_element(rss.begin(), rss.end()), "{:.0f}"));
      row.push_back(st);
      results.rows.push_back(row);
    }
    sections.push_back({"Results",
                        "Final evaluation on held-out data; loss per scored output against the task's chance "
                        "(memoryless) loss. steps/s: time steps of the whole batch per second of training.",
                        {results},
                        {},
                        {}});
  }
  std::vector<Figure> run_figs, align_figs;
  for (const auto& f : figs) (f.name.rfind("align", 0) == 0 ? align_figs : run_figs).push_back(f);
  if (!run_figs.empty()) sections.push_back({"Figures", "", {}, run_figs, {}});
  for (size_t i = 0; i < res.aligns.size(); ++i) {
    const auto& al = res.aligns[i];
    const auto& s = al.summary;
    Section sec{fmt::format("Gradient alignment: {}", al.dir),
                fmt::format("{} on {}, driven by {}, {} steps, seed {}; reference: {}.", s.value("model", std::string("?")),
                            s.value("task", std::string("?")), s.value("drive", std::string("?")),
                            s.contains("steps") ? s["steps"].dump() : "?", s.contains("seed") ? s["seed"].dump() : "?",
                            s.value("reference", std::string("RTRL's exact online gradient"))),
                {},
                {},
                {}};
    Table2 t{{"algorithm", "samples", "mean cosine", "median cosine", "mean norm ratio"}, {}};
    if (s.contains("algorithms") && s["algorithms"].is_array())
      for (const auto& r : s["algorithms"])
        t.rows.push_back({r.value("algorithm", std::string("?")), r.contains("samples") ? r["samples"].dump() : "-",
                          number_text(r.value("mean_cosine", std::nan(""))),
                          number_text(r.value("median_cosine", std::nan(""))),
                          number_text(r.value("mean_norm_ratio", std::nan("")))});
    sec.tables.push_back(t);
    if (i < align_figs.size()) sec.figures.push_back(align_figs[i]);
    sections.push_back(sec);
  }
  if (!res.runs.empty()) {
    Table2 t{{"folder", "setting", "seed", "eval loss", "accuracy", "updates", "wall s"}, {}};
    for (const auto& r : res.runs)
      t.rows.push_back({fs::relative(r.dir, page_dir).string(), r.group,
                        r.config.contains("seed") ? r.config["seed"].dump() : "?", number_text(r.number("eval_loss")),
                        number_text(r.number("eval_accuracy")), number_text(r.number("updates"), "{:.0f}"),
                        number_text(r.number("wall_seconds"), "{:.1f}")});
    sections.push_back({"Runs", "", {t}, {}, {}});
    // The model, when every run trained the same one.
    const auto dot = res.runs[0].config.value("model_dot", std::string());
    bool same = !dot.empty();
    for (const auto& r : res.runs) same = same && r.config.value("model_dot", std::string()) == dot;
    if (same) sections.push_back({"Model", "As every run read it (normalized: every attribute explicit).", {}, {}, dot});
  }
  std::vector<std::string> names;
  for (const auto& dd : a.dirs) names.push_back(dd);
  const std::string title = a.title.empty() ? fmt::format("credo report: {}", fmt::join(names, ", ")) : a.title;
  const std::string intro = fmt::format(
      "{} training run{} in {} setting{}{}; written by credo report on {}.", res.runs.size(),
      res.runs.size() == 1 ? "" : "s", groups.size(), groups.size() == 1 ? "" : "s",
      res.aligns.empty() ? "" : fmt::format(", {} alignment run{}", res.aligns.size(), res.aligns.size() == 1 ? "" : "s"),
      today());
  const std::string rel = fs::relative(figure_dir, page_dir).string();
  write_atomic(out, as_html ? html(title, intro, sections, figure_dir) : markdown(title, intro, sections, rel));
  fmt::print("wrote {} ({} figure{} in {})\n", out, figs.size(), figs.size() == 1 ? "" : "s", figure_dir);
  return 0;
}

}  // namespace credo::cli
