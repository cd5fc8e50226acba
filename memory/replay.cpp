// Replay: checkpointed BPTT (Chen et al. 2016; Gruslys et al. 2016). Keeps the state every `every` steps
// and replays the forward pass of one segment at a time during the backward sweep: BPTT's exact gradient
// in O((T / every) N + every N) memory for about one extra forward pass.
#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "framework/credit.h"

namespace credo {

template <class T>
class Replay final : public CreditAlgorithm<T> {
 public:
  Replay(Program<T>& p, const Options& o) : CreditAlgorithm<T>(p), every_(o.integer("every")) {}

  void reset(int batch) override {
    this->s_.setZero(this->prog_.state_size(), batch);
    t_ = 0;
  }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    (void)grad;
    if (this->s_.cols() != x.cols()) reset(static_cast<int>(x.cols()));
    // The inputs are kept (they are small); the state only at checkpoints.
    if (t_ % every_ == 0) slot(checkpoints_, t_ / every_) = this->s_;
    slot(xs_, t_) = x;
    slot(targets_, t_) = target;
    slot(masks_, t_) = mask;
    this->forward_and_loss(x, target, mask);
    this->s_ = this->frame_.s;
    ++t_;
    return false;
  }

  bool end_chunk(bool episode_end, Vec<T>& grad) override {
    (void)episode_end;
    if (t_ == 0) return false;
    if (static_cast<long>(segment_.size()) < every_) segment_.resize(every_), dys_.resize(every_);
    ds_.setZero(this->prog_.state_size(), this->s_.cols());
    bool carried = false;
    for (long first = ((t_ - 1) / every_) * every_; first >= 0; first -= every_) {
      const long last = std::min(t_, first + every_);  // one past
      // Replay the segment from its checkpoint.
      const Mat<T>* s = &checkpoints_[first / every_];
      for (long t = first; t < last; ++t) {
        Frame<T>& f = segment_[t - first];
        this->prog_.forward(*s, xs_[t], f);
        this->prog_.loss(f, targets_[t], masks_[t], &dys_[t - first], T(1) / T(xs_[t].cols()));
        s = &f.s;
      }
      for (long t = last - 1; t >= first; --t) {
        const Mat<T>& s_prev = t == first ? checkpoints_[first / every_] : segment_[t - first - 1].s;
        this->prog_.vjp(segment_[t - first], s_prev, carried ? &ds_ : nullptr, dys_[t - first], ds_prev_, grad);
        std::swap(ds_, ds_prev_);
        carried = true;
      }
    }
    t_ = 0;  // the next chunk starts from the current state
    return true;
  }

  bool visit_state(StateVisitor<T>& v) override {
    v.matrix("s", this->s_);
    v.number("t", t_);
    // The chunk so far: its inputs, targets and masks, and the states at its checkpoints.
    for (long t = 0; t < t_; ++t) {
      v.matrix(fmt::format("x.{}", t), slot(xs_, t));
      v.matrix(fmt::format("target.{}", t), slot(targets_, t));
      v.matrix(fmt::format("mask.{}", t), slot(masks_, t));
    }
    for (long c = 0; t_ > 0 && c <= (t_ - 1) / every_; ++c) v.matrix(fmt::format("checkpoint.{}", c), slot(checkpoints_, c));
    return true;
  }

 private:
  static Mat<T>& slot(std::vector<Mat<T>>& v, long i) {
    if (i >= static_cast<long>(v.size())) v.resize(i + 1);
    return v[i];
  }

  const long every_;
  long t_ = 0;
  std::vector<Mat<T>> checkpoints_, xs_, targets_, masks_, dys_;
  std::vector<Frame<T>> segment_;
  Mat<T> ds_, ds_prev_;
};

CREDO_REGISTER_ALGORITHM("replay", Replay,
                         "checkpointed BPTT: exact, keeps a state every `every` steps and replays segments backward",
                         (std::vector<OptionSpec>{{"every", "10", "steps between checkpoints (sqrt(T) is optimal)",
                                                   1, 1e9, true, {}}}),
                         std::vector<std::string>{}, true, false);

}  // namespace credo
