// Backpropagation through time, whole-sequence and truncated: the window of stored frames and its backward
// sweep, shared by bptt, tbptt and sab.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "framework/credit.h"

namespace credo {

// Williams & Peng (1990) BPTT(k1, k2): every k1 steps, the losses of those k1 steps are propagated back
// through the last k2 steps. k1 = 0 updates only at the end of an episode (or of a stream chunk, for bptt);
// k2 = 0 propagates back to the start of the sequence. bptt is k1 = k2 = 0 and flushes at chunk ends, so on
// a stream each chunk is its window.
template <class T>
class Truncated : public CreditAlgorithm<T> {
 public:
  Truncated(Program<T>& p, const Options& o) : Truncated(p, o.integer("k1"), o.integer("k2"), false) {}

  void reset(int batch) override {
    this->s_.setZero(this->prog_.state_size(), batch);  // marks the batch size; steps start from start_
    start_ = this->s_;
    t_ = 0;
    first_ = 0;
    pending_from_ = 0;
    zero_dy_.setZero(this->prog_.output_size(), batch);
  }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    if (this->s_.cols() != x.cols()) reset(static_cast<int>(x.cols()));
    // The step starts from the last stored frame's state (no copy of the carried state per step, which with
    // a memory module in the graph is the whole memory).
    this->forward_and_loss(state_before(t_), x, target, mask);
    // Keep the frame and its loss cotangent in the window.
    if (k2_ > 0 && t_ - first_ >= k2_ + 1) {
      // The oldest frame leaves the window; its state is where the window now starts.
      start_ = slot(first_).frame.s;
      ++first_;
    }
    Stored& st = slot(t_);
    std::swap(st.frame, this->frame_);
    std::swap(st.dy, this->dy_);
    ++t_;
    if (k1_ > 0 && t_ - pending_from_ >= k1_) return backward(grad);
    return false;
  }

  bool visit_state(StateVisitor<T>& v) override {
    v.matrix("s", this->s_);
    v.matrix("start", start_);
    v.number("t", t_);
    v.number("first", first_);
    v.number("pending_from", pending_from_);
    v.matrix("zero_dy", zero_dy_);
    // The window: the frames and loss cotangents of steps [first_, t_).
    for (long t = first_; t < t_; ++t) {
      Stored& st = slot(t);
      v.frame(fmt::format("frame.{}", t - first_), st.frame);
      v.matrix(fmt::format("dy.{}", t - first_), st.dy);
    }
    return true;
  }

  bool end_chunk(bool episode_end, Vec<T>& grad) override {
    bool added = false;
    if ((episode_end || flush_at_chunk_) && t_ > pending_from_) added = backward(grad);
    if (flush_at_chunk_ || episode_end) {
      // The next chunk starts a new window from the current state.
      if (t_ > first_) start_ = slot(t_ - 1).frame.s;
      first_ = t_;
    }
    return added;
  }

 protected:
  // whole: flush at every chunk end (bptt, whose window is the episode or stream chunk).
  Truncated(Program<T>& p, int k1, int k2, bool whole) : CreditAlgorithm<T>(p), k1_(k1), k2_(k2), flush_at_chunk_(whole) {}

  // Sparse attentive backtracking's cut: every `every` steps from the start of the window, the cotangent of
  // the carried state is zeroed except on the rows in `keep` (stored memory), so the recurrent path is
  // truncated and the paths through memory are not.
  void cut_every(int every, std::vector<std::pair<int, int>> keep) {
    cut_ = every;
    keep_ = std::move(keep);
  }

 private:
  struct Stored {
    Frame<T> frame;
    Mat<T> dy;
  };

  Stored& slot(long t) {
    const long cap = k2_ > 0 ? k2_ + 1 : static_cast<long>(window_.size());
    if (k2_ > 0) {
      if (static_cast<long>(window_.size()) < cap) window_.resize(cap);
      return window_[t % cap];
    }
    const long i = t - first_;
    if (i >= static_cast<long>(window_.size())) window_.resize(i + 1);
    return window_[i];
  }

  const Mat<T>& state_before(long t) { return t == first_ ? start_ : slot(t - 1).frame.s; }

  // Propagates the losses of steps [pending_from_, t_) back through the window.
  bool backward(Vec<T>& grad) {
    const long last = t_ - 1;
    const long lo = k2_ > 0 ? std::max<long>(first_, t_ - k2_) : first_;
    for (long t = last; t >= lo; --t) {
      Stored& st = slot(t);
      const Mat<T>& dy = t >= pending_from_ ? st.dy : zero_dy_;
      this->prog_.vjp(st.frame, state_before(t), t == last ? nullptr : &ds_, dy, ds_prev_, grad);
      if (cut_ > 0 && t > first_ && (t - first_) % cut_ == 0) cut(ds_prev_);
      std::swap(ds_, ds_prev_);
    }
    pending_from_ = t_;
    return true;
  }

  // Zeroes every row of ds but the kept ones.
  void cut(Mat<T>& ds) {
    int row = 0;
    for (const auto& [first, rows] : keep_) {
      ds.middleRows(row, first - row).setZero();
      row = first + rows;
    }
    ds.bottomRows(ds.rows() - row).setZero();
  }

  const int k1_, k2_;
  const bool flush_at_chunk_;
  int cut_ = 0;
  std::vector<std::pair<int, int>> keep_;  // sorted, disjoint
  std::vector<Stored> window_;
  Mat<T> start_;  // state before the oldest step in the window
  long t_ = 0, first_ = 0, pending_from_ = 0;
  Mat<T> ds_, ds_prev_, zero_dy_;
};

}  // namespace credo
