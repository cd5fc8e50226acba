// assoc_retrieval: shown letter-digit pairs such as c9k8j3f1, then "??" and one of the letters, output that letter's digit (Ba, Hinton, Mnih, Leibo & Ionescu 2016, "Using Fast Weights to Attend to the Recent Past", NIPS, sec. 4.1).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "framework/error.h"
#include "framework/options.h"
#include "framework/task.h"

namespace credo {
namespace {

constexpr int kLetters = 26, kDigits = 10;
constexpr int kQuestion = kLetters + kDigits;  // the '?' symbol

// Input: one-hot over 37 symbols, 0..25 the letters a..z, 26..35 the digits 0..9, 36 '?'. A sequence is `pairs`
// (4 in the paper) distinct letters each followed by a distinct digit, then "??", then one of the letters, one
// symbol per step (2 pairs + 3 steps, 11 for four pairs). Only the last step is scored: the target is the queried
// letter's digit, one-hot over the 10 digits.
class AssocRetrievalTask final : public Task {
 public:
  AssocRetrievalTask(const Options& o, std::uint64_t seed) : pairs_(o.integer("pairs")), rng_(seed) {}

  int input_size() const override { return kLetters + kDigits + 1; }
  int output_size() const override { return kDigits; }
  std::string loss() const override { return "softmax_xent"; }
  bool has_accuracy() const override { return true; }
  // A predictor without memory sees only the query letter, which says nothing about the digit: every digit is
  // equally likely, so its best is uniform, loss ln 10 (accuracy 0.10). A network that remembers only which
  // digits were shown, not which letter each followed, does better: uniform over the shown digits, ln pairs
  // (ln 4, accuracy 0.25, with the paper's four pairs): a reference level, not the chance level.
  double chance_loss() const override { return std::log(static_cast<double>(kDigits)); }
  std::vector<Metric> reference_losses() const override {
    return {{"shown_digits_only", std::log(static_cast<double>(pairs_))}};
  }

  Episode sample(int batch, int /*steps*/) override {
    if (batch <= 0) fail("task 'assoc_retrieval': batch must be positive, got {}", batch);
    const int steps = 2 * pairs_ + 3;
    Episode e = Episode::zeros(input_size(), output_size(), steps, batch);
    std::vector<int> letters(kLetters), digits(kDigits);
    std::uniform_int_distribution<int> which(0, pairs_ - 1);
    for (int b = 0; b < batch; ++b) {
      // The first `pairs` entries of each shuffled alphabet are distinct draws without replacement.
      std::iota(letters.begin(), letters.end(), 0);
      std::iota(digits.begin(), digits.end(), 0);
      partial_shuffle(letters);
      partial_shuffle(digits);
      for (int p = 0; p < pairs_; ++p) {
        e.x(letters[static_cast<std::size_t>(p)], e.col(2 * p, b)) = 1.0;
        e.x(kLetters + digits[static_cast<std::size_t>(p)], e.col(2 * p + 1, b)) = 1.0;
      }
      e.x(kQuestion, e.col(2 * pairs_, b)) = 1.0;
      e.x(kQuestion, e.col(2 * pairs_ + 1, b)) = 1.0;
      const int q = which(rng_);
      const Eigen::Index last = e.col(steps - 1, b);
      e.x(letters[static_cast<std::size_t>(q)], last) = 1.0;
      e.target(digits[static_cast<std::size_t>(q)], last) = 1.0;
      e.mask(0, last) = 1.0;
    }
    return e;
  }

 private:
  // Fisher-Yates on the first `pairs` positions: each is a uniform draw from the entries not yet drawn.
  void partial_shuffle(std::vector<int>& v) {
    for (int i = 0; i < pairs_; ++i) {
      const int j = std::uniform_int_distribution<int>(i, static_cast<int>(v.size()) - 1)(rng_);
      std::swap(v[static_cast<std::size_t>(i)], v[static_cast<std::size_t>(j)]);
    }
  }

  int pairs_;
  std::mt19937_64 rng_;
};

}  // namespace

CREDO_REGISTER_TASK("assoc_retrieval", AssocRetrievalTask,
                    "after letter-digit pairs such as c9k8j3f1, then ?? and one of the letters, output that "
                    "letter's digit; chance ln 10 (accuracy 0.10); guessing among the shown digits: ln pairs "
                    "(ln 4, accuracy 0.25, with the default 4 pairs) (Ba et al. 2016)",
                    std::vector<OptionSpec>{
                        {"pairs", "4", "letter-digit pairs shown (distinct letters, distinct digits)", 2, 10, true,
                         {}},
                    });

}  // namespace credo
