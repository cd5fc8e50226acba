#include "framework/align.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/optimizer.h"
#include "framework/program.h"
#include "framework/results.h"
#include "framework/signals.h"
#include "framework/task.h"
#include "framework/trainer.h"

namespace credo {

namespace {

template <class T>
std::vector<AlignSummary> run_align(const AlignConfig& c, AlignOutcome& outcome) {
  ModelGraph graph = read_model(c.model, model_limits(c.limits));
  auto task = make_task(c.task, c.task_options, c.seed);
  const std::string model_dot = write_model(graph);
  resolve_auto_sizes(graph, task->input_size(), task->output_size(), c.task, model_limits(c.limits));
  resolve_output_losses(graph, task->loss(), c.task);
  Program<T> prog(graph);
  if (prog.input_size() != task->input_size() || prog.output_size() != task->output_size())
    fail("{}: the model has {} inputs and {} outputs, task '{}' has {} and {}", c.model, prog.input_size(),
         prog.output_size(), c.task, task->input_size(), task->output_size());
  if (c.algorithms.empty()) fail("--algos is empty");
  if (c.steps < 1) fail("--steps is {}, must be >= 1", c.steps);
  if (c.batch < 1 || c.batch > 1'000'000) fail("--batch is {}, must be in [1, 1000000]", c.batch);
  if (c.chunk < 1 || c.chunk > 1'000'000) fail("--chunk is {}, must be in [1, 1000000]", c.chunk);
  struct Follower {
    std::string label;
    std::unique_ptr<CreditAlgorithm<T>> algo;
    Vec<T> grad, ref;
    std::vector<double> cosines, ratios, rec_cosines, rec_ratios;
    std::vector<double> block_sum;
    std::vector<long> block_count;
    std::vector<std::pair<std::string, std::pair<double, double>>> diagnostics;
  };
  std::vector<Follower> followers;
  for (const auto& spec : c.algorithms) {
    auto [name, opts] = parse_algorithm_spec(spec);
    Follower f;
    f.label = spec;
    f.algo = make_algorithm<T>(name, opts, prog);
    followers.push_back(std::move(f));
  }
  auto reference = make_algorithm<T>("rtrl", {}, prog);
  auto driver = make_algorithm<T>(c.drive, c.drive_options, prog);
  OptimizerConfig oc;
  oc.name = c.optimizer, oc.lr = c.lr, oc.clip = c.clip;
  Optimizer<T> opt(oc, prog.param_count());
  RunFolder folder = c.out.empty() ? RunFolder() : RunFolder(c.out, c.overwrite);
  // The whole configuration, as train writes it: what the run was, before its first step.
  if (folder.active()) {
    const nlohmann::json config = {
        {"model", c.model},
        {"model_dot", model_dot},
        {"task", c.task},
        {"task_options", Options("task", TaskRegistry::get().find(c.task, "task").options, c.task_options).values()},
        {"algorithms", c.algorithms},
        {"drive", c.drive},
        {"drive_options", c.drive_options},
        {"reference", "rtrl"},
        {"steps", c.steps},
        {"batch", c.batch},
        {"optimizer", c.optimizer},
        {"lr", c.lr},
        {"clip", c.clip},
        {"seed", c.seed},
        {"chunk", c.chunk},
        {"precision", c.precision},
        {"limits", Options("--limit", model_limit_specs(), c.limits).values()}};
    folder.write("config.json", config.dump(2) + "\n");
  }

  std::mt19937_64 rng(c.seed);
  prog.init_params(rng);
  const int P = prog.param_count();
  const auto& blocks = prog.param_blocks();
  // Recurrent parameters: the blocks that drive hidden populations.
  std::vector<char> recurrent(P, 0);
  for (const auto& b : blocks)
    if (const int owner = prog.graph().find(b.owner); owner >= 0 && prog.populations()[owner].role == Role::hidden)
      std::fill_n(recurrent.begin() + b.offset, b.size, char(1));
  for (auto& f : followers) {
    f.grad = Vec<T>::Zero(P), f.ref = Vec<T>::Zero(P);
    f.block_sum.assign(blocks.size(), 0);
    f.block_count.assign(blocks.size(), 0);
  }
  Vec<T> ref_step = Vec<T>::Zero(P), drive_grad = Vec<T>::Zero(P);
  std::string csv = "step,algorithm,cosine,norm_ratio,cosine_recurrent,norm_ratio_recurrent\n";
  std::string diag_csv = "step,algorithm,name,value\n";
  // Cosine and norm ratio of a against b, or nothing when either is zero.
  auto compare = [](const auto& a, const auto& b) -> std::pair<double, double> {
    const double an = static_cast<double>(a.norm()), bn = static_cast<double>(b.norm());
    if (an == 0 || bn == 0) return {std::nan(""), std::nan("")};
    return {static_cast<double>(a.dot(b)) / (an * bn), an / bn};
  };
  auto number = [](double v) { return std::isnan(v) ? std::string() : fmt::format("{:.6g}", v); };
  auto record = [&](Follower& f, long step) {
    // Weights a projection's fixed connectivity removes are not parameters of the model.
    prog.mask(f.grad), prog.mask(f.ref);
    const auto [cosine, ratio] = compare(f.grad, f.ref);
    if (!std::isnan(cosine)) {
      f.cosines.push_back(cosine);
      f.ratios.push_back(ratio);
      Vec<T> g = f.grad, r = f.ref;
      for (int i = 0; i < P; ++i)
        if (!recurrent[i]) g(i) = r(i) = 0;
      const auto [rc, rr] = compare(g, r);
      if (!std::isnan(rc)) f.rec_cosines.push_back(rc), f.rec_ratios.push_back(rr);
      csv += fmt::format("{},\"{}\",{:.6g},{:.6g},{},{}\n", step, f.label, cosine, ratio, number(rc),
                         number(rr));  // labels hold commas
      for (size_t k = 0; k < blocks.size(); ++k) {
        const auto [bc, br] = compare(f.grad.segment(blocks[k].offset, blocks[k].size),
                                      f.ref.segment(blocks[k].offset, blocks[k].size));
        if (std::isnan(bc)) continue;
        (void)br;
        f.block_sum[k] += bc, ++f.block_count[k];
      }
    }
    f.grad.setZero();
    f.ref.setZero();
  };
  auto diagnose = [&](Follower& f, long step) {
    for (const auto& [key, value] : f.algo->diagnostics()) {
      const std::string& name = key;  // a structured binding cannot be captured before C++20 (clang 14)
      diag_csv += fmt::format("{},\"{}\",\"{}\",{:.6g}\n", step, f.label, name, value);
      auto it = std::find_if(f.diagnostics.begin(), f.diagnostics.end(), [&](const auto& d) { return d.first == name; });
      if (it == f.diagnostics.end()) f.diagnostics.push_back({name, {value, value}});
      else it->second.second = value;
    }
  };
  const bool streaming = task->streaming();
  long t_global = 0;
  bool first = true;
  auto stopped = [&] {
    if (outcome.status != "finished") return true;
    if (const int sig = stop_signal()) {
      outcome.status = "interrupted";
      outcome.stop_signal = sig;
      outcome.reason = fmt::format("{} at step {}", sig == SIGINT ? "SIGINT" : "SIGTERM", t_global);
      return true;
    }
    return false;
  };
  auto apply_drive = [&] {
    prog.mask(drive_grad), opt.apply(prog.params(), drive_grad);
    drive_grad.setZero();
    if (!prog.params().allFinite() && outcome.status == "finished") {
      outcome.status = "diverged";
      outcome.reason = fmt::format("a parameter is not finite after step {}", t_global);
    }
  };
  while (t_global < c.steps && !stopped()) {
    const Episode ep = task->sample(c.batch, c.chunk);
    const Mat<T> xs = ep.x.cast<T>(), ts = ep.target.cast<T>(), ms = ep.mask.cast<T>();
    const int B = ep.batch;
    if (!streaming || first) {
      reference->reset(B);
      driver->reset(B);
      for (auto& f : followers) f.algo->reset(B);
    }
    first = false;
    for (int t = 0; t < ep.steps && t_global < c.steps && !stopped(); ++t, ++t_global) {
      const auto cols = static_cast<Eigen::Index>(t) * B;
      auto x = xs.middleCols(cols, B);
      auto tg = ts.middleCols(cols, B);
      auto m = ms.middleCols(cols, B);
      ref_step.setZero();
      reference->step(x, tg, m, ref_step);
      for (auto& f : followers) {
        f.ref += ref_step;
        if (f.algo->step(x, tg, m, f.grad)) record(f, t_global);
        diagnose(f, t_global);
      }
      if (driver->step(x, tg, m, drive_grad)) apply_drive();
    }
    if (outcome.status != "finished") break;
    for (auto& f : followers)  // labelled with the chunk's last step, like the per-step rows
      if (f.algo->end_chunk(!streaming, f.grad)) record(f, t_global - 1);
    if (driver->end_chunk(!streaming, drive_grad)) apply_drive();
  }
  outcome.steps = t_global;
  std::vector<AlignSummary> out;
  nlohmann::json js = nlohmann::json::array();
  for (auto& f : followers) {
    AlignSummary s;
    s.algorithm = f.label;
    s.samples = static_cast<long>(f.cosines.size());
    if (s.samples > 0) {
      for (size_t i = 0; i < f.cosines.size(); ++i) s.mean_cosine += f.cosines[i], s.mean_norm_ratio += f.ratios[i];
      s.mean_cosine /= s.samples;
      s.mean_norm_ratio /= s.samples;
      std::vector<double> sorted = f.cosines;
      std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
      s.median_cosine = sorted[sorted.size() / 2];
    }
    s.samples_recurrent = static_cast<long>(f.rec_cosines.size());
    for (size_t i = 0; i < f.rec_cosines.size(); ++i)
      s.mean_cosine_recurrent += f.rec_cosines[i] / s.samples_recurrent,
          s.mean_norm_ratio_recurrent += f.rec_ratios[i] / s.samples_recurrent;
    nlohmann::json per_block = nlohmann::json::object(), diagnostics = nlohmann::json::object();
    for (size_t k = 0; k < blocks.size(); ++k)
      if (f.block_count[k] > 0) {
        s.block_cosines.emplace_back(blocks[k].name, f.block_sum[k] / f.block_count[k]);
        per_block[blocks[k].name] = f.block_sum[k] / f.block_count[k];
      }
    s.diagnostics = f.diagnostics;
    for (const auto& [name, first_last] : f.diagnostics)
      diagnostics[name] = {{"first", first_last.first}, {"last", first_last.second}};
    js.push_back({{"algorithm", s.algorithm},
                  {"samples", s.samples},
                  {"mean_cosine", s.mean_cosine},
                  {"median_cosine", s.median_cosine},
                  {"mean_norm_ratio", s.mean_norm_ratio},
                  {"samples_recurrent", s.samples_recurrent},
                  {"mean_cosine_recurrent", s.mean_cosine_recurrent},
                  {"mean_norm_ratio_recurrent", s.mean_norm_ratio_recurrent},
                  {"mean_cosine_per_block", per_block},
                  {"diagnostics", diagnostics}});
    out.push_back(s);
  }
  if (folder.active()) {
    folder.write("alignment.csv", csv);
    folder.write("diagnostics.csv", diag_csv);
    nlohmann::json summary = {{"model", c.model},       {"task", c.task},           {"drive", c.drive},
                              {"steps", c.steps},       {"seed", c.seed},           {"reference", "rtrl (online, exact)"},
                              {"status", outcome.status}, {"step", outcome.steps}, {"algorithms", js}};
    if (!outcome.reason.empty()) summary["reason"] = outcome.reason;
    folder.write("summary.json", summary.dump(2) + "\n");
    folder.keep();
  }
  return out;
}

}  // namespace

std::vector<AlignSummary> align(const AlignConfig& c, AlignOutcome* outcome) {
  AlignOutcome local;
  AlignOutcome& o = outcome ? *outcome : local;
  o = AlignOutcome();
  if (c.precision == "float") return run_align<float>(c, o);
  if (c.precision == "double") return run_align<double>(c, o);
  fail("--precision is '{}', must be float or double", c.precision);
}

}  // namespace credo
