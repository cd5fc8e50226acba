#include "framework/record.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "framework/error.h"
#include "framework/results.h"
#include "framework/trainer.h"

namespace credo {

namespace {

const std::vector<std::string>& record_items() {
  static const std::vector<std::string> items = {"states", "outputs", "loss", "grad_norm", "traces"};
  return items;
}

template <class T>
const char* dtype_of() {
  return std::is_same_v<T, float> ? "<f4" : "<f8";
}

// A file name from an array name: letters, digits, '.', '_' and '-' kept, anything else '_'.
std::string file_name(const std::string& name) {
  std::string s;
  for (char c : name) s += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ? c : '_';
  return s;
}

// The names of the quantities an algorithm shows to visit_traces (its eligibility traces, influence matrix,
// feedback matrices; the network's state s is skipped), and per name the RMS and the largest magnitude of its
// entries: the trace summaries of `traces`.
template <class T>
class TraceSummary : public StateVisitor<T> {
 public:
  std::vector<std::string> names;
  std::vector<double> rms, max_abs;
  bool collecting = true;

  void matrix(const std::string& name, Mat<T>& m) override { take(name, m.data(), m.size()); }
  void vector(const std::string& name, Vec<T>& v) override { take(name, v.data(), v.size()); }
  void number(const std::string&, std::int64_t&) override {}
  void number(const std::string&, std::uint64_t&) override {}
  void real(const std::string&, double&) override {}
  void generator(const std::string&, std::mt19937_64&) override {}

 private:
  void take(const std::string& name, const T* data, Eigen::Index n) {
    if (name == "s") return;
    if (collecting) {
      names.push_back(name);
      return;
    }
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) return;  // carried from a later step on (stored frames): not summarised
    const auto k = static_cast<size_t>(it - names.begin());
    const Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> a(data, n);
    rms[k] = n > 0 ? std::sqrt(static_cast<double>(a.square().sum()) / static_cast<double>(n)) : 0.0;
    max_abs[k] = n > 0 ? static_cast<double>(a.abs().maxCoeff()) : 0.0;
  }
};

}  // namespace

bool RecordOptions::has(const std::string& item) const {
  return std::find(what.begin(), what.end(), item) != what.end();
}

std::vector<std::string> parse_record_items(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& item : split_list(text, ",")) {
    if (item == "all") {
      // Everything but traces, which only some algorithms have.
      for (const auto& k : record_items())
        if (k != "traces" && std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
      continue;
    }
    if (std::find(record_items().begin(), record_items().end(), item) == record_items().end())
      fail("--record: unknown item '{}' (known: {}, all)", item, fmt::join(record_items(), ", "));
    if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
  }
  if (out.empty()) fail("--record is empty: name what to record ({}, all)", fmt::join(record_items(), ", "));
  return out;
}

template <class T>
int Recorder<T>::add(std::string name, std::string description, std::vector<std::int64_t> shape, std::string dtype,
                     nlohmann::json extra) {
  std::string file = file_name(name);
  // Two names that differ only in characters a file name cannot hold get numbered files.
  for (int k = 2; std::any_of(arrays_.begin(), arrays_.end(), [&](const Array& a) { return a.file == file + ".npy"; }); ++k)
    file = fmt::format("{}_{}", file_name(name), k);
  std::int64_t n = dtype == "<f4" ? 4 : 8;
  for (auto d : shape) n *= d;
  bytes_ += static_cast<double>(n);
  arrays_.push_back({std::move(name), file + ".npy", std::move(description), std::move(dtype), std::move(shape),
                     std::move(extra), nullptr});
  return static_cast<int>(arrays_.size()) - 1;
}

template <class T>
Recorder<T>::Recorder(Program<T>& prog, const RecordOptions& o, int steps, int batch, int warmup, std::string dir,
                      nlohmann::json about)
    : prog_(prog), options_(o), steps_(steps), batch_(batch), warmup_(warmup), dir_(std::move(dir)),
      about_(std::move(about)) {
  if (o.sequences < 1) fail("--record-sequences is {}, must be >= 1", o.sequences);
  if (!(o.limit_mb > 0) || !std::isfinite(o.limit_mb)) fail("--record-limit-mb is {}, must be a positive number", o.limit_mb);
  for (const auto& item : o.what)
    if (std::find(record_items().begin(), record_items().end(), item) == record_items().end())
      fail("--record: unknown item '{}' (known: {}, all)", item, fmt::join(record_items(), ", "));
  seqs_ = std::min(o.sequences, batch);
  const std::int64_t S = steps, B = seqs_;
  const char* dt = dtype_of<T>();
  inputs_ = add("inputs", "the task's input vector (input populations in file order)", {S, B, prog.input_size()}, dt);
  targets_ = add("targets", "the task's target vector (output populations in file order)", {S, B, prog.output_size()}, dt);
  mask_ = add("mask", "1 where the evaluation scores the output, 0 elsewhere (and in the warm-up)", {S, B}, dt);
  if (o.has("states")) {
    for (const auto& p : prog.populations()) {
      if (p.role != Role::hidden) continue;
      if (p.module) {
        slices_.push_back({add("state." + p.name, "the module's output", {S, B, p.module_shape.out}, dt,
                               {{"population", p.name}, {"kind", p.kind}, {"module", true}}),
                           p.z_offset, p.module_shape.out, false});
        if (p.module_shape.state > 0)
          slices_.push_back({add("module_state." + p.name, "the module's carried state after the step (its memory)",
                                 {S, B, p.module_shape.state}, dt, {{"population", p.name}, {"kind", p.kind}}),
                             p.module_state_offset, p.module_shape.state, true});
      } else {
        const int rows = p.shape.slots * p.shape.units;
        slices_.push_back(
            {add("state." + p.name,
                 "the population's state after the step: its slots one after another along the last axis (slot k at "
                 "k*units .. (k+1)*units); projections read slot out_slot",
                 {S, B, rows}, dt,
                 {{"population", p.name}, {"kind", p.kind}, {"units", p.shape.units}, {"slots", p.shape.slots},
                  {"out_slot", p.shape.out_slot}}),
             p.z_offset, rows, false});
      }
    }
  }
  if (o.has("outputs"))
    outputs_ = add("outputs", "the output populations' values (logits for cross-entropy losses)",
                   {S, B, prog.output_size()}, dt);
  if (o.has("loss"))
    loss_ = add("loss", "each sequence's loss at each step, summed over outputs; 0 where mask is 0", {S, B}, dt);
  if (o.has("grad_norm") || o.has("traces")) {
    const auto [name, opts] = parse_algorithm_spec(o.algorithm);
    algo_ = make_algorithm<T>(name, opts, prog);
  }
  if (o.has("traces")) {
    TraceSummary<T> names;
    algo_->reset(seqs_);
    algo_->visit_traces(names);
    if (names.names.empty())
      fail("--record traces: {} carries no traces (no eligibility traces, influence matrix or feedback weights to "
           "summarise); choose an algorithm that does with --record-algo, e.g. eprop, rflo, rtrl, uoro",
           o.algorithm);
    trace_names_ = names.names;
    const auto n = static_cast<std::int64_t>(trace_names_.size());
    traces_rms_ = add("traces_rms",
                      fmt::format("per step and carried quantity of {} (axis 1, in the order of 'quantities': its "
                                  "eligibility traces, influence matrix, feedback weights, ...), the root mean square "
                                  "of its entries after the step, along the recorded sequences with the weights fixed",
                                  o.algorithm),
                      {S, n}, "<f8", {{"algorithm", o.algorithm}, {"quantities", trace_names_}});
    traces_max_ = add("traces_max_abs",
                      fmt::format("per step and carried quantity of {}, the largest magnitude among its entries",
                                  o.algorithm),
                      {S, n}, "<f8", {{"algorithm", o.algorithm}, {"quantities", trace_names_}});
  }
  if (o.has("grad_norm")) {
    nlohmann::json blocks = nlohmann::json::array();
    for (const auto& b : prog.param_blocks()) blocks.push_back(b.name);
    const auto nb = static_cast<std::int64_t>(prog.param_blocks().size());
    grad_ = add("grad_norm",
                fmt::format("per step and parameter block (axis 1, in the order of 'blocks'), the 2-norm of the "
                            "gradient {} emitted at that step along the recorded sequences, weights fixed (0: none)",
                            o.algorithm),
                {S, nb}, "<f8", {{"algorithm", o.algorithm}, {"blocks", blocks}});
    grad_end_ = add("grad_norm_end",
                    fmt::format("per parameter block, the norm of the gradient {} emitted at the end of the episode "
                                "(BPTT's whole gradient; 0 for online algorithms)",
                                o.algorithm),
                    {nb}, "<f8", {{"algorithm", o.algorithm}, {"blocks", blocks}});
  }
  const double mb = bytes_ / (1024.0 * 1024.0);
  if (mb > o.limit_mb)
    fail("--record would write {:.1f} MB ({} steps x {} sequences), over --record-limit-mb {}: record fewer "
         "sequences (--record-sequences), fewer steps (--eval-steps) or fewer items (--record), or raise the limit",
         mb, steps, seqs_, o.limit_mb);
  // The free space where the recording will go (the nearest folder that exists).
  std::error_code ec;
  std::filesystem::path probe = std::filesystem::path(dir_);
  while (!probe.empty() && !std::filesystem::exists(probe, ec)) probe = probe.parent_path();
  const auto space = std::filesystem::space(probe.empty() ? "." : probe, ec);
  if (!ec && static_cast<double>(space.available) < bytes_ * 1.05)
    fail("--record would write {:.1f} MB into {}, but only {:.1f} MB are free", mb, dir_,
         static_cast<double>(space.available) / (1024.0 * 1024.0));
}

template <class T>
Recorder<T>::~Recorder() = default;

template <class T>
void Recorder<T>::begin(const Episode& e, int warmup) {
  if (e.steps != steps_ || e.batch != batch_ || warmup != warmup_)
    throw std::logic_error("Recorder: the episode does not have the shape the recorder was made for");
  episode_ = &e;
  prepare_output_dir(dir_, "--out");
  for (auto& a : arrays_) a.writer = std::make_unique<npy::StreamWriter>(dir_ + "/" + a.file, a.dtype, a.shape);
}

template <class T>
void Recorder<T>::step(int t, const Mat<T>& /*s_prev*/, const Mat<T>& x, const Frame<T>& f) {
  const Episode& e = *episode_;
  const int B = seqs_;
  const Eigen::Index col = static_cast<Eigen::Index>(t) * e.batch;
  auto put = [&](int array, const auto& block) {
    buf_ = block;  // rows x B column-major: C order (B, rows)
    arrays_[array].writer->write(buf_.data(), static_cast<size_t>(buf_.size()));
  };
  put(inputs_, x.leftCols(B));
  put(targets_, e.target.middleCols(col, B).template cast<T>());
  // The warm-up steps are run but not scored: their mask is 0 here, so loss.sum() / mask.sum() is the evaluation's
  // loss over the recorded sequences.
  const Mat<T> mask = t < warmup_ ? Mat<T>::Zero(1, B) : Mat<T>(e.mask.middleCols(col, B).template cast<T>());
  put(mask_, mask);
  for (const auto& s : slices_)
    put(s.array, (s.from_state ? f.s : f.z).middleRows(s.row, s.rows).leftCols(B));
  if (outputs_ >= 0 || loss_ >= 0) prog_.outputs(f, y_);
  if (outputs_ >= 0) put(outputs_, y_.leftCols(B));
  if (loss_ >= 0) {
    const auto kinds = prog_.output_losses();
    const Mat<T> target = e.target.middleCols(col, B).template cast<T>();
    Mat<T> loss = Mat<T>::Zero(1, B);
    size_t k = 0;
    for (const auto& p : prog_.populations()) {
      if (p.role != Role::output) continue;
      const int n = p.shape.units;
      for (int b = 0; b < B; ++b)
        loss(0, b) += loss_and_grad<T>(kinds[k], y_.block(p.io_offset, b, n, 1), target.block(p.io_offset, b, n, 1),
                                       mask.block(0, b, 1, 1), nullptr, T(1));
      ++k;
    }
    put(loss_, loss);
  }
}

template <class T>
void Recorder<T>::end() {
  const Episode& e = *episode_;
  const int B = seqs_;
  const auto& blocks = prog_.param_blocks();
  if (algo_) {
    // The algorithm follows the recorded sequences with the weights as they are; what it emits is measured, not
    // applied.
    Vec<T> g = Vec<T>::Zero(prog_.param_count());
    std::vector<double> norms(blocks.size());
    auto measure = [&](int array) {
      for (size_t k = 0; k < blocks.size(); ++k)
        norms[k] = static_cast<double>(g.segment(blocks[k].offset, blocks[k].size).norm());
      arrays_[array].writer->write(norms.data(), norms.size());
      g.setZero();
    };
    TraceSummary<T> summary;
    summary.names = trace_names_;
    summary.collecting = false;
    summary.rms.assign(trace_names_.size(), 0.0);
    summary.max_abs.assign(trace_names_.size(), 0.0);
    algo_->reset(B);
    for (int t = 0; t < e.steps; ++t) {
      const Eigen::Index col = static_cast<Eigen::Index>(t) * e.batch;
      const Mat<T> x = e.x.middleCols(col, B).cast<T>(), target = e.target.middleCols(col, B).cast<T>(),
                   mask = t < warmup_ ? Mat<T>::Zero(1, B) : Mat<T>(e.mask.middleCols(col, B).cast<T>());
      algo_->step(x, target, mask, g);
      if (grad_ >= 0) measure(grad_);  // measure() clears g
      else g.setZero();
      if (traces_rms_ >= 0) {
        algo_->visit_traces(summary);
        arrays_[traces_rms_].writer->write(summary.rms.data(), summary.rms.size());
        arrays_[traces_max_].writer->write(summary.max_abs.data(), summary.max_abs.size());
      }
    }
    algo_->end_chunk(true, g);
    if (grad_end_ >= 0) measure(grad_end_);
  }
  nlohmann::ordered_json arrays = nlohmann::ordered_json::object();
  for (auto& a : arrays_) {
    a.writer->commit();
    nlohmann::ordered_json j = {{"file", a.file}, {"shape", a.shape}, {"dtype", a.dtype}, {"description", a.description}};
    for (const auto& [k, v] : a.extra.items()) j[k] = v;
    arrays[a.name] = j;
  }
  nlohmann::ordered_json index = {
      {"format", "credo-record"},
      {"version", 1},
      {"layout", "time-major, C order: axis 0 is the step, axis 1 the sequence (stream), axis 2 the unit"},
      {"steps", steps_},
      {"sequences", seqs_},
      {"warmup", warmup_},
      {"about", about_},
      {"arrays", arrays}};
  write_atomic(dir_ + "/index.json", index.dump(2) + "\n");
  episode_ = nullptr;
}

template class Recorder<float>;
template class Recorder<double>;

}  // namespace credo
