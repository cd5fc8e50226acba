// Per-step recordings of a network on evaluation sequences (`--record`): states, outputs, losses and gradient
// norms and trace summaries as .npy arrays with a JSON index, which numpy loads without credo.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/credit.h"
#include "framework/evaluate.h"
#include "framework/npy.h"
#include "framework/program.h"

namespace credo {

// What to record. Written always: the episode itself (inputs, targets, mask). Chosen:
//   states     every hidden population's state (all its slots) and every memory module's output and state
//   outputs    the output populations' values (logits for the cross-entropy losses)
//   loss       the loss of every sequence at every step (0 where unscored)
//   grad_norm  per step and parameter block, the norm of the gradient an algorithm emits when run along the
//              recorded sequences with the weights fixed (`algorithm`; online algorithms emit every step, BPTT at
//              the end: its gradient is in grad_norm_end)
//   traces     per step and quantity the same algorithm carries besides the network's state (e-prop's and
//              RFLO's eligibility traces, RTRL's influence matrix, UORO's vectors, learned feedback matrices),
//              the RMS and largest magnitude of its entries
struct RecordOptions {
  std::vector<std::string> what;  // any of: states, outputs, loss, grad_norm, traces
  int sequences = 16;             // the first this many held-out sequences (streams) are recorded
  double limit_mb = 1024;         // refuse to record more than this
  std::string algorithm = "bptt";  // for grad_norm and traces: "name" or "name:k=v:k=v"

  bool has(const std::string& item) const;
};

// "states,outputs" or "all" -> the items; an unknown item is an InputError naming --record.
std::vector<std::string> parse_record_items(const std::string& text);

// The recorder observes one evaluation and writes DIR/index.json and DIR/<array>.npy. Arrays are time-major:
// [step, sequence, unit] (C order), so x[t, b] is sequence b at step t; index.json lists each array's file,
// shape, dtype and meaning. Everything is checked on construction (the items, the algorithm, the size guard:
// an InputError naming --record-limit-mb if the recording would exceed it, or the free disk space), so a run
// never fails at its end for its recording. The folder is made when the evaluation begins; files are written
// while it runs and put in place when it ends, index.json last.
template <class T>
class Recorder : public EvalObserver<T> {
 public:
  // steps, batch and warmup: the shape of the held-out episode (Evaluator::steps(), batch(), warmup()).
  Recorder(Program<T>& prog, const RecordOptions& options, int steps, int batch, int warmup, std::string dir,
           nlohmann::json about = {});
  ~Recorder() override;

  void begin(const Episode& e, int warmup) override;
  void step(int t, const Mat<T>& s_prev, const Mat<T>& x, const Frame<T>& f) override;
  void end() override;

  // Bytes the recording will take.
  double bytes() const { return bytes_; }
  const std::string& dir() const { return dir_; }

 private:
  struct Array {
    std::string name, file, description, dtype;
    std::vector<std::int64_t> shape;
    nlohmann::json extra;
    std::unique_ptr<npy::StreamWriter> writer;
  };
  // A z-row range of the frame (or s-row range with from_state) recorded as one array.
  struct Slice {
    int array = 0;
    int row = 0, rows = 0;
    bool from_state = false;
  };
  int add(std::string name, std::string description, std::vector<std::int64_t> shape, std::string dtype,
          nlohmann::json extra = {});

  Program<T>& prog_;
  RecordOptions options_;
  int steps_, batch_, warmup_, seqs_;
  std::string dir_;
  nlohmann::json about_;
  std::unique_ptr<CreditAlgorithm<T>> algo_;
  std::vector<Array> arrays_;
  std::vector<Slice> slices_;
  int inputs_ = -1, targets_ = -1, mask_ = -1, outputs_ = -1, loss_ = -1, grad_ = -1, grad_end_ = -1;
  int traces_rms_ = -1, traces_max_ = -1;
  std::vector<std::string> trace_names_;
  const Episode* episode_ = nullptr;
  double bytes_ = 0;
  Mat<T> buf_, y_;
};

extern template class Recorder<float>;
extern template class Recorder<double>;

}  // namespace credo
