// assoc_recall: after a list of items, each a short sequence of random bit vectors, shown one item of the list, output the item that followed it (Graves, Wayne & Danihelka 2014, "Neural Turing Machines", arXiv:1410.5401, sec. 4.3).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "framework/error.h"
#include "framework/options.h"
#include "framework/task.h"
#include "tasks/bit_error.h"

namespace credo {
namespace {

// Input channels: 0..bits-1 the vectors' bits, `bits` the item delimiter, bits+1 the query delimiter (the usual
// bits + 2). With n ~ U{min_items..max_items} items of item_len vectors each, a sequence is
//
//   item_0, D, item_1, D, ..., item_{n-1}, D, Q, item_k, Q, then item_len answer steps with zero input,
//
// D and Q each one step with only their channel on, and k ~ U{0..n-2}. The answer steps are scored bitwise
// against item_{k+1}. Items within a sequence are distinct, so the answer is always defined. A sequence lasts
// n (item_len + 1) + 2 item_len + 2 steps; each sequence in a batch draws its own n, and shorter ones are padded
// at the end with zero-input, unscored steps, which cannot change their loss.
class AssocRecallTask final : public Task {
 public:
  AssocRecallTask(const Options& o, std::uint64_t seed)
      : bits_(o.integer("bits")),
        item_len_(o.integer("item_len")),
        min_items_(o.integer("min_items")),
        max_items_(o.integer("max_items")),
        rng_(seed) {
    if (min_items_ > max_items_)
      fail("{}: min_items ({}) is greater than max_items ({})", o.owner(), min_items_, max_items_);
    // Distinct items need at least max_items bit patterns of bits * item_len bits.
    const int pattern_bits = bits_ * item_len_;
    if (pattern_bits < 30 && (1 << pattern_bits) < max_items_)
      fail("{}: {} items cannot be distinct with bits * item_len = {} (only {} patterns)", o.owner(), max_items_,
           pattern_bits, 1 << pattern_bits);
  }

  int input_size() const override { return bits_ + 2; }
  int output_size() const override { return bits_; }
  std::string loss() const override { return "sigmoid_xent"; }
  bool has_accuracy() const override { return true; }
  // To a predictor without memory of the items, each answer bit is a fair coin: its best output is 0.5, loss
  // ln 2 per bit. Losses are summed over a scored step's outputs, so per scored step (one vector) that is bits * ln 2.
  double chance_loss() const override { return bits_ * std::log(2.0); }

  Episode sample(int batch, int /*steps*/) override {
    if (batch <= 0) fail("task 'assoc_recall': batch must be positive, got {}", batch);
    std::uniform_int_distribution<int> count(min_items_, max_items_);
    std::vector<int> counts(static_cast<std::size_t>(batch));
    int most = 0;
    for (int& n : counts) {
      n = count(rng_);
      most = std::max(most, n);
    }
    Episode e = Episode::zeros(input_size(), output_size(), length(most), batch);
    const int item_delimiter = bits_, query_delimiter = bits_ + 1;
    std::bernoulli_distribution coin(0.5);
    std::vector<std::vector<bool>> items;
    for (int b = 0; b < batch; ++b) {
      const int n = counts[static_cast<std::size_t>(b)];
      items.clear();
      while (static_cast<int>(items.size()) < n) {
        std::vector<bool> item(static_cast<std::size_t>(bits_) * item_len_);
        for (std::size_t i = 0; i < item.size(); ++i) item[i] = coin(rng_);
        if (std::find(items.begin(), items.end(), item) == items.end()) items.push_back(std::move(item));
      }
      // Writes item j's vectors into channel rows 0..bits-1 at steps t0.. of sequence b.
      auto put = [&](Eigen::MatrixXd& m, int j, int t0) {
        for (int v = 0; v < item_len_; ++v)
          for (int i = 0; i < bits_; ++i)
            if (items[static_cast<std::size_t>(j)][static_cast<std::size_t>(v) * bits_ + i]) m(i, e.col(t0 + v, b)) = 1.0;
      };
      int t = 0;
      for (int j = 0; j < n; ++j) {
        put(e.x, j, t);
        t += item_len_;
        e.x(item_delimiter, e.col(t++, b)) = 1.0;
      }
      const int k = std::uniform_int_distribution<int>(0, n - 2)(rng_);
      e.x(query_delimiter, e.col(t++, b)) = 1.0;
      put(e.x, k, t);
      t += item_len_;
      e.x(query_delimiter, e.col(t++, b)) = 1.0;
      put(e.target, k + 1, t);
      for (int v = 0; v < item_len_; ++v) e.mask(0, e.col(t + v, b)) = 1.0;
    }
    return e;
  }

  // The Neural Turing Machine paper's measure: wrong bits over a sequence's answer, thresholded at 0.5.
  std::vector<Metric> metrics(const Episode& e, const Eigen::MatrixXd& outputs) const override {
    return {{"error_bits_per_sequence", error_bits_per_sequence(e, outputs)}};
  }

 private:
  // Steps of a sequence with n items.
  int length(int n) const { return n * (item_len_ + 1) + 2 * item_len_ + 2; }

  int bits_;
  int item_len_;
  int min_items_;
  int max_items_;
  std::mt19937_64 rng_;
};

}  // namespace

// Upper bounds keep sizes within int and memory within reason; they are not part of the task's definition.
CREDO_REGISTER_TASK("assoc_recall", AssocRecallTask,
                    "after n ~ U{min_items..max_items} items of item_len random bit vectors, each followed by a "
                    "delimiter, and a query item between query delimiters, output the item that followed the "
                    "query; sigmoid_xent, chance ln 2 per bit; also reports error bits per sequence "
                    "(Graves et al. 2014)",
                    std::vector<OptionSpec>{
                        {"bits", "6", "bits per vector (input bits+2 with the two delimiters, output bits)", 1,
                         10000, true, {}},
                        {"item_len", "3", "vectors per item", 1, 1000, true, {}},
                        {"min_items", "2", "fewest items in a sequence", 2, 10000, true, {}},
                        {"max_items", "6", "most items in a sequence (each sequence draws its count uniformly)", 2,
                         10000, true, {}},
                    });

}  // namespace credo
