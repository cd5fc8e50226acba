// Attention over stored past states, the memory of sparse attentive backtracking (Ke et al. 2018, "Sparse
// attentive backtracking: temporal credit assignment through reminding", NeurIPS): a ring buffer of
// (key, value) pairs written every `every` steps and read with a query by scaled dot-product attention
// (Vaswani et al. 2017), densely or over the `top` best-scoring slots only.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "framework/error.h"
#include "framework/module.h"

namespace credo {

// One step for batch column b, at step counter c (c = 0 at the first step, as the state starts at zeros):
//   if c % every == 0:  slot w = (c / every) % slots is overwritten with (key, value)
//   n = min(c / every + 1, slots) slots written so far (always slots [0, n): writes fill the buffer in order)
//   s_j = q . k_j / sqrt(key_size),  j < n
//   a = softmax(s), or with top = k > 0 and n > k: softmax over the k largest s_j, every other a_j exactly 0
//   r = sum_j a_j v_j,  the output
// The read follows the write, so the value stored this step can be read. Unlike the SAB release code, whose
// MLP scorer lets the query cancel out of the ranking of the slots, the score here is the bilinear q . k_j:
// which slots are read depends on the query.
//
// Derivatives. With g_j = dr . v_j, the softmax gives ds_j = a_j (g_j - sum_i a_i g_i); then dq = sum_j ds_j
// k_j / sqrt(key_size), dk_j += ds_j q / sqrt(key_size), dv_j += a_j dr. Top-k selection is piecewise constant
// in the scores, so its derivative holds the selection fixed (what finite differences see away from ties);
// the formulas above then hold with a_j = 0 off the selection. The stored slots' cotangents pass to the
// previous state unchanged except at the slot written this step: its old content is overwritten and gets
// none, and its cotangent goes to the key and value ports.
//
// State per column: keys (key_size x slots, column-major: slot j is rows [j key_size, (j+1) key_size)), then
// values (size x slots), then the step counter. The counter has zero derivative. It is kept in [0, 2 P) with
// P = slots * every (past 2 P it steps back by P: the write slot and write steps have period P and the buffer
// is full from c >= P on), so streams of any length run, and the counter stays an exact integer in float as
// long as 2 P <= 2^24; the constructor refuses larger P (in double too, so a model means the same in both).
// Work rows per column: the attention weights (slots rows, 0 off the read set), n, and the slot written (-1
// for none); vjp() and jvp() need nothing else, so they serve any stored frame.
//
// Cost per column and step: copying the stored slots into the new state (slots (key_size + size) values, the
// bulk of it: the memory is carried in s_t), plus O(n key_size) to score and O(n size) to read, or O(top size)
// for a top-k read; the VJP is the same order. Scratch is sized in the constructor (ts_, the JVP's, on first
// use), so no step allocates.
template <class T>
class Attention final : public Module<T> {
 public:
  Attention(int size, const Options& o)
      : dv_(size),
        dk_(o.integer("key_size") > 0 ? o.integer("key_size") : size),
        slots_(o.integer("slots")),
        every_(o.integer("every")),
        top_(o.integer("top")),
        inv_sqrt_(T(1) / std::sqrt(T(dk_))) {
    const long long period = static_cast<long long>(slots_) * every_;
    if (2 * period > (1LL << 24))
      fail("{}: slots * every = {} is more than 2^23: the step counter would no longer be exact in float", o.owner(),
           period);
    if (top_ > slots_) fail("{}: top = {} is more than slots = {}", o.owner(), top_, slots_);
    period_ = period;
    const long long mem = static_cast<long long>(slots_) * (dk_ + dv_);
    if (mem + 1 > 2000000000LL) fail("{}: slots * (key_size + size) = {} is too large", o.owner(), mem);
    auto& s = this->shape_;
    s.out = dv_;
    voff_ = slots_ * dk_;
    coff_ = static_cast<int>(mem);
    s.state = coff_ + 1;
    s.work = slots_ + 2;
    s.ports = {{"key", dk_, true, PopulationShape::no_bias, "the key stored with the value (key_size rows)"},
               {"value", dv_, true, PopulationShape::no_bias, "the value stored (size rows)"},
               {"query", dk_, true, PopulationShape::no_bias, "the query the stored keys are scored against"}};
    s.memory_rows = {{0, voff_}, {voff_, slots_ * dv_}};
    scores_.resize(slots_);
    g_.resize(slots_);
    ds_.resize(slots_);
    sel_.resize(slots_);
  }

  void forward(const ConstMatRef<T>& in, const ConstMatRef<T>& state_prev, MatRef<T> out, MatRef<T> state,
               MatRef<T> work) override {
    const Eigen::Index B = in.cols();
    for (Eigen::Index b = 0; b < B; ++b) {
      // Column by column, so the copied slots are still in cache when they are scored and read.
      state.col(b).head(coff_) = state_prev.col(b).head(coff_);
      const long long c = counter(state_prev(coff_, b));
      const int w = c % every_ == 0 ? static_cast<int>((c / every_) % slots_) : -1;
      const int n = static_cast<int>(std::min<long long>(c / every_ + 1, slots_));
      Eigen::Map<Mat<T>> keys(state.col(b).data(), dk_, slots_), values(state.col(b).data() + voff_, dv_, slots_);
      if (w >= 0) {
        keys.col(w) = in.col(b).head(dk_);
        values.col(w) = in.col(b).segment(dk_, dv_);
      }
      state(coff_, b) = T(c + 1 < 2 * period_ ? c + 1 : c + 1 - period_);
      work(slots_, b) = T(n);
      work(slots_ + 1, b) = T(w);
      auto a = work.col(b).head(slots_);
      auto r = out.col(b);
      scores_.head(n).noalias() = keys.leftCols(n).transpose() * in.col(b).segment(dk_ + dv_, dk_);
      scores_.head(n) *= inv_sqrt_;
      if (sparse(n)) {
        const int m = select_top(n);
        a.setZero();
        T mx = scores_(sel_[0]);
        for (int i = 1; i < m; ++i) mx = std::max(mx, scores_(sel_[i]));
        T sum = 0;
        for (int i = 0; i < m; ++i) sum += (a(sel_[i]) = std::exp(scores_(sel_[i]) - mx));
        const T inv = T(1) / sum;
        r.setZero();
        for (int i = 0; i < m; ++i) {
          a(sel_[i]) *= inv;
          r.noalias() += a(sel_[i]) * values.col(sel_[i]);
        }
      } else {
        const T mx = scores_.head(n).maxCoeff();
        a.head(n) = (scores_.head(n).array() - mx).exp();
        a.head(n) /= a.head(n).sum();
        a.tail(slots_ - n).setZero();
        r.noalias() = values.leftCols(n) * a.head(n);
      }
    }
  }

  void vjp(const ModuleValues<T>& v, const ConstMatRef<T>& dout, const ConstMatRef<T>& dstate, MatRef<T> din,
           MatRef<T> dstate_prev) override {
    const Eigen::Index B = dout.cols();
    for (Eigen::Index b = 0; b < B; ++b) {
      const int n = static_cast<int>(v.work(slots_, b)), w = static_cast<int>(v.work(slots_ + 1, b));
      const auto a = v.work.col(b).head(slots_);
      Eigen::Map<const Mat<T>> keys(v.state.col(b).data(), dk_, slots_),
          values(v.state.col(b).data() + voff_, dv_, slots_), dk(dstate.col(b).data(), dk_, slots_),
          dvs(dstate.col(b).data() + voff_, dv_, slots_);
      Eigen::Map<Mat<T>> dkp(dstate_prev.col(b).data(), dk_, slots_), dvp(dstate_prev.col(b).data() + voff_, dv_, slots_);
      const auto q = v.in.col(b).segment(dk_ + dv_, dk_);
      const auto dr = dout.col(b);
      auto dkey = din.col(b).head(dk_);
      auto dvalue = din.col(b).segment(dk_, dv_);
      auto dq = din.col(b).segment(dk_ + dv_, dk_);
      // Stored content passes through, except the slot overwritten this step: its cotangent is the ports'.
      // Dense reads fold the pass-through into their one sweep over the slots read.
      if (w >= 0) {
        dkey = dk.col(w);
        dvalue = dvs.col(w);
      } else {
        dkey.setZero();
        dvalue.setZero();
      }
      if (sparse(n)) {
        pass_through(dkp, dk, w, 0, slots_);
        pass_through(dvp, dvs, w, 0, slots_);
        int m = 0;
        for (int j = 0; j < n; ++j)
          if (a(j) != T(0)) sel_[m++] = j;
        T ag = 0;
        for (int i = 0; i < m; ++i) {
          const int j = sel_[i];
          g_(j) = values.col(j).dot(dr);
          ag += a(j) * g_(j);
        }
        dq.setZero();
        for (int i = 0; i < m; ++i) {
          const int j = sel_[i];
          const T dsj = a(j) * (g_(j) - ag) * inv_sqrt_;
          dq.noalias() += dsj * keys.col(j);
          if (j == w) {
            dkey.noalias() += dsj * q;
            dvalue.noalias() += a(j) * dr;
          } else {
            dkp.col(j).noalias() += dsj * q;
            dvp.col(j).noalias() += a(j) * dr;
          }
        }
      } else {
        g_.head(n).noalias() = values.leftCols(n).transpose() * dr;
        const T ag = a.head(n).dot(g_.head(n));
        ds_.head(n) = (a.head(n).array() * (g_.head(n).array() - ag)) * inv_sqrt_;
        dq.noalias() = keys.leftCols(n) * ds_.head(n);
        for (int j = 0; j < n; ++j) {
          if (j == w) {
            dkey.noalias() += ds_(j) * q;
            dvalue.noalias() += a(j) * dr;
          } else {
            dkp.col(j) += dk.col(j) + ds_(j) * q;
            dvp.col(j) += dvs.col(j) + a(j) * dr;
          }
        }
        // The written slot is below n, so the slots past n are pure pass-through.
        pass_through(dkp, dk, -1, n, slots_ - n);
        pass_through(dvp, dvs, -1, n, slots_ - n);
      }
    }
  }

  void jvp(const ModuleValues<T>& v, const ConstMatRef<T>& tin, const ConstMatRef<T>* tstate_prev, MatRef<T> tout,
           MatRef<T> tstate) override {
    const Eigen::Index K = tin.cols();
    const int n = static_cast<int>(v.work(slots_, 0)), w = static_cast<int>(v.work(slots_ + 1, 0));
    const auto a = v.work.col(0).head(slots_);
    Eigen::Map<const Mat<T>> keys(v.state.col(0).data(), dk_, slots_), values(v.state.col(0).data() + voff_, dv_, slots_);
    const auto q = v.in.col(0).segment(dk_ + dv_, dk_);
    const auto tq = tin.middleRows(dk_ + dv_, dk_);
    // The state's tangent: stored content carried over, the written slot replaced by the ports' tangents.
    if (tstate_prev) tstate.topRows(coff_) = tstate_prev->topRows(coff_);
    else tstate.topRows(coff_).setZero();
    tstate.row(coff_).setZero();
    if (w >= 0) {
      tstate.middleRows(w * dk_, dk_) = tin.topRows(dk_);
      tstate.middleRows(voff_ + w * dv_, dv_) = tin.middleRows(dk_, dv_);
    }
    if (ts_.rows() < slots_ || ts_.cols() < K) ts_.resize(slots_, std::max<Eigen::Index>(K, ts_.cols()));
    if (sparse(n)) {
      // Only the selected slots have a_j != 0, and ta_j = a_j (ts_j - a . ts) vanishes off them.
      int m = 0;
      for (int j = 0; j < n; ++j)
        if (a(j) != T(0)) sel_[m++] = j;
      auto ts = ts_.topLeftCorner(m, K);
      for (int i = 0; i < m; ++i) ts.row(i).noalias() = keys.col(sel_[i]).transpose() * tq;
      for (Eigen::Index k = 0; k < K; ++k)
        for (int i = 0; i < m; ++i) ts(i, k) += tstate.col(k).segment(sel_[i] * dk_, dk_).dot(q);
      for (Eigen::Index k = 0; k < K; ++k) {
        T mean = 0;
        for (int i = 0; i < m; ++i) mean += a(sel_[i]) * ts(i, k);
        for (int i = 0; i < m; ++i) ts(i, k) = a(sel_[i]) * (ts(i, k) - mean) * inv_sqrt_;
      }
      tout.setZero();
      for (int i = 0; i < m; ++i) {
        const int j = sel_[i];
        tout.noalias() += values.col(j) * ts.row(i);
        tout.noalias() += a(j) * tstate.middleRows(voff_ + j * dv_, dv_);
      }
    } else {
      auto ts = ts_.topLeftCorner(n, K);
      ts.noalias() = keys.leftCols(n).transpose() * tq;
      for (Eigen::Index k = 0; k < K; ++k) {
        Eigen::Map<const Mat<T>> tk(tstate.col(k).data(), dk_, n);
        ts.col(k).noalias() += tk.transpose() * q;
        const T mean = a.head(n).dot(ts.col(k));
        ts.col(k) = (a.head(n).array() * (ts.col(k).array() - mean)) * inv_sqrt_;
      }
      tout.noalias() = values.leftCols(n) * ts;
      for (Eigen::Index k = 0; k < K; ++k) {
        Eigen::Map<const Mat<T>> tvk(tstate.col(k).data() + voff_, dv_, n);
        tout.col(k).noalias() += tvk * a.head(n);
      }
    }
  }

 private:
  // dst.middleCols(first, count) += src.middleCols(first, count), except column `skip`.
  template <class D, class S>
  static void pass_through(D& dst, const S& src, int skip, int first, int count) {
    if (skip < first || skip >= first + count) {
      dst.middleCols(first, count) += src.middleCols(first, count);
      return;
    }
    dst.middleCols(first, skip - first) += src.middleCols(first, skip - first);
    dst.middleCols(skip + 1, first + count - skip - 1) += src.middleCols(skip + 1, first + count - skip - 1);
  }

  // Top-k reads only when the selection leaves some written slot out.
  bool sparse(int n) const { return top_ > 0 && top_ < n; }

  // The step counter held in the state (rounded: finite differences nudge it; clamped: anything else is not a
  // state this module wrote).
  long long counter(T x) const {
    if (!(x >= T(0.5))) return 0;
    return std::llround(std::min<double>(static_cast<double>(x), static_cast<double>(2 * period_ - 1)));
  }

  // sel_[0, top) = the `top` highest of scores_[0, n) (NaN ranks lowest). Returns top.
  int select_top(int n) {
    std::iota(sel_.begin(), sel_.begin() + n, 0);
    std::nth_element(sel_.begin(), sel_.begin() + (top_ - 1), sel_.begin() + n, [&](int i, int j) {
      const T x = scores_(i), y = scores_(j);
      return x > y || (std::isnan(y) && !std::isnan(x));
    });
    return top_;
  }

  int dv_, dk_, slots_, every_, top_;
  T inv_sqrt_;
  long long period_ = 0;
  int voff_ = 0, coff_ = 0;
  // Scratch, sized once (ts_: for the largest tangent count seen).
  Vec<T> scores_, g_, ds_;
  std::vector<int> sel_;
  Mat<T> ts_;
};

CREDO_REGISTER_MODULE(
    "attention", Attention,
    "attention over stored past states (sparse attentive backtracking, Ke et al. 2018): a ring buffer of "
    "(key, value) pairs written every `every` steps, read by scaled dot-product attention with a query; ports "
    "key, value, query; output: the read value (size rows)",
    std::vector<OptionSpec>{
        {"slots", "32", "(key, value) pairs kept (a ring buffer: the oldest is overwritten)", 1, 100000, true, {}},
        {"every", "1", "store every k-th step (the first step is stored)", 1, 1000000, true, {}},
        {"top", "0", "0: dense softmax over the stored slots; k > 0: softmax over the k best-scoring slots only",
         0, 100000, true, {}},
        {"key_size", "0", "width of keys and queries (0: the node's size)", 0, 100000, true, {}},
    });

}  // namespace credo
