// Tests of the memory benchmark tasks (assoc_retrieval, assoc_recall, bit_copy): shapes, masks, targets decoded
// from the inputs, determinism, chance levels, error bits per sequence; and the trainer's use of task metrics and
// of evaluation-only task options.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <Eigen/Core>
#include <gtest/gtest.h>

#include "framework/error.h"
#include "framework/loss.h"
#include "framework/task.h"
#include "framework/trainer.h"
#include "tasks/bit_error.h"

namespace {

using Opts = std::map<std::string, std::string>;

std::unique_ptr<credo::Task> task(const std::string& name, const Opts& o = {}, std::uint64_t seed = 1) {
  return credo::make_task(name, o, seed);
}

void expect_shapes(const credo::Task& t, const credo::Episode& e, int batch, int steps) {
  EXPECT_EQ(e.batch, batch);
  EXPECT_EQ(e.steps, steps);
  const Eigen::Index cols = static_cast<Eigen::Index>(steps) * batch;
  EXPECT_EQ(e.x.rows(), t.input_size());
  EXPECT_EQ(e.x.cols(), cols);
  EXPECT_EQ(e.target.rows(), t.output_size());
  EXPECT_EQ(e.target.cols(), cols);
  EXPECT_EQ(e.mask.rows(), 1);
  EXPECT_EQ(e.mask.cols(), cols);
}

bool same(const credo::Episode& a, const credo::Episode& b) {
  return a.steps == b.steps && a.batch == b.batch && a.x == b.x && a.target == b.target && a.mask == b.mask;
}

// The index of the single 1 in column c of m, or -1 if the column is not exactly one-hot.
int one_hot(const Eigen::MatrixXd& m, Eigen::Index c) {
  int at = -1;
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    if (m(r, c) == 1.0) {
      if (at >= 0) return -1;
      at = static_cast<int>(r);
    } else if (m(r, c) != 0.0) {
      return -1;
    }
  }
  return at;
}

bool binary(const Eigen::MatrixXd& m) { return ((m.array() == 0.0) || (m.array() == 1.0)).all(); }

// Loss per scored step of the network that always outputs `logits`, as the trainer's evaluation computes it.
double constant_loss(const credo::Task& t, const credo::Episode& e, const Eigen::VectorXd& logits) {
  const Eigen::MatrixXd y = logits.replicate(1, e.target.cols());
  const auto kind = credo::parse_loss(t.loss(), "test");
  return credo::loss_and_grad<double>(kind, y, e.target, e.mask, nullptr, 1.0) / e.mask.sum();
}

// Logits that get every target bit right (|logit| = 5) and every unscored output 0.
Eigen::MatrixXd perfect_logits(const credo::Episode& e) {
  return (e.target.array() * 10.0 - 5.0).matrix() * e.mask.row(0).asDiagonal();
}

// Ones among the scored target bits, per sequence: the error bits of a network that always predicts 0.
double ones_per_sequence(const credo::Episode& e) { return (e.target * e.mask.transpose()).sum() / e.batch; }

// ----------------------------------------------------------------------------------------------- assoc_retrieval

constexpr int kLetters = 26, kDigits = 10, kQuestion = 36;

TEST(AssocRetrievalTask, DeclaresItsInterface) {
  auto t = task("assoc_retrieval");
  EXPECT_EQ(t->input_size(), 37);
  EXPECT_EQ(t->output_size(), 10);
  EXPECT_EQ(t->loss(), "softmax_xent");
  EXPECT_FALSE(t->streaming());
  EXPECT_TRUE(t->has_accuracy());
  EXPECT_NEAR(t->chance_loss(), std::log(10.0), 1e-12);
  EXPECT_TRUE(t->metrics(t->sample(2, 0), Eigen::MatrixXd::Zero(10, 22)).empty());
  // The help states both levels.
  const auto& help = credo::TaskRegistry::get().find("assoc_retrieval", "task").help;
  for (const char* s : {"ln 10", "0.10", "ln 4", "0.25"}) EXPECT_NE(help.find(s), std::string::npos) << s;
}

TEST(AssocRetrievalTask, ElevenOneHotStepsScoredOnlyAtTheLast) {
  auto t = task("assoc_retrieval");
  auto e = t->sample(32, 0);
  expect_shapes(*t, e, 32, 11);
  for (int b = 0; b < 32; ++b)
    for (int s = 0; s < 11; ++s) {
      EXPECT_GE(one_hot(e.x, e.col(s, b)), 0) << "step " << s;
      EXPECT_EQ(e.mask(0, e.col(s, b)), s == 10 ? 1.0 : 0.0) << "step " << s;
      if (s < 10) {
        EXPECT_EQ(e.target.col(e.col(s, b)).sum(), 0.0);
      }
    }
}

// Decodes every sequence (letters, digits, "??", query) and checks the target is the queried letter's digit.
void expect_retrieval_episode(const credo::Episode& e, int pairs) {
  ASSERT_EQ(e.steps, 2 * pairs + 3);
  for (int b = 0; b < e.batch; ++b) {
    std::map<int, int> digit_of;
    std::set<int> digits;
    for (int p = 0; p < pairs; ++p) {
      const int letter = one_hot(e.x, e.col(2 * p, b)), digit = one_hot(e.x, e.col(2 * p + 1, b)) - kLetters;
      ASSERT_GE(letter, 0);
      ASSERT_LT(letter, kLetters) << "step " << 2 * p << " is not a letter";
      ASSERT_GE(digit, 0) << "step " << 2 * p + 1 << " is not a digit";
      ASSERT_LT(digit, kDigits) << "step " << 2 * p + 1 << " is not a digit";
      EXPECT_TRUE(digit_of.emplace(letter, digit).second) << "letter repeated in sequence " << b;
      EXPECT_TRUE(digits.insert(digit).second) << "digit repeated in sequence " << b;
    }
    EXPECT_EQ(one_hot(e.x, e.col(2 * pairs, b)), kQuestion);
    EXPECT_EQ(one_hot(e.x, e.col(2 * pairs + 1, b)), kQuestion);
    const int query = one_hot(e.x, e.col(2 * pairs + 2, b));
    ASSERT_TRUE(digit_of.count(query)) << "the query is not one of the shown letters";
    EXPECT_EQ(one_hot(e.target, e.col(2 * pairs + 2, b)), digit_of[query]) << "sequence " << b;
  }
}

TEST(AssocRetrievalTask, TargetIsTheQueriedLettersDigit) {
  expect_retrieval_episode(task("assoc_retrieval", {}, 3)->sample(200, 0), 4);
  expect_retrieval_episode(task("assoc_retrieval", {{"pairs", "2"}})->sample(50, 0), 2);
  expect_retrieval_episode(task("assoc_retrieval", {{"pairs", "10"}})->sample(50, 0), 10);
}

TEST(AssocRetrievalTask, QueryLetterSaysNothingSoChanceIsLn10AndShownDigitsGiveLn4) {
  auto t = task("assoc_retrieval");
  const int n = 30000;
  auto e = t->sample(n, 0);
  // The best predictor that sees only the query letter outputs the empirical p(digit | letter); its loss, the
  // conditional entropy, is ln 10 up to the small downward bias of estimating 26 x 10 cells from the sample.
  Eigen::MatrixXd counts = Eigen::MatrixXd::Zero(kLetters, kDigits);
  std::vector<int> position(4, 0);
  for (int b = 0; b < n; ++b) {
    const int q = one_hot(e.x, e.col(10, b)), d = one_hot(e.target, e.col(10, b));
    counts(q, d) += 1;
    for (int p = 0; p < 4; ++p) position[p] += one_hot(e.x, e.col(2 * p, b)) == q;
  }
  double conditional_entropy = 0;
  for (int q = 0; q < kLetters; ++q) {
    const double row = counts.row(q).sum();
    ASSERT_GT(row, 0);
    for (int d = 0; d < kDigits; ++d)
      if (counts(q, d) > 0) conditional_entropy -= counts(q, d) / n * std::log(counts(q, d) / row);
  }
  EXPECT_NEAR(conditional_entropy, t->chance_loss(), 0.02);
  EXPECT_LT(conditional_entropy, t->chance_loss());
  // Every pair is queried equally often.
  for (int p = 0; p < 4; ++p) EXPECT_NEAR(position[p] / double(n), 0.25, 0.015) << "pair " << p;
  // The reference level: uniform over the four shown digits loses exactly ln 4 on every sequence.
  const auto kind = credo::parse_loss(t->loss(), "test");
  Eigen::MatrixXd y = Eigen::MatrixXd::Constant(kDigits, e.x.cols(), -1e9);
  for (int b = 0; b < n; ++b)
    for (int p = 0; p < 4; ++p) y(one_hot(e.x, e.col(2 * p + 1, b)) - kLetters, e.col(10, b)) = 0.0;
  EXPECT_NEAR(credo::loss_and_grad<double>(kind, y, e.target, e.mask, nullptr, 1.0) / n, std::log(4.0), 1e-9);
  // And the constant uniform output scores the chance loss exactly.
  EXPECT_NEAR(constant_loss(*t, e, Eigen::VectorXd::Zero(kDigits)), t->chance_loss(), 1e-9);
}

TEST(AssocRetrievalTask, SameSeedSameEpisodesDifferentSeedDifferent) {
  auto a = task("assoc_retrieval", {}, 7), b = task("assoc_retrieval", {}, 7), c = task("assoc_retrieval", {}, 8);
  auto ea = a->sample(16, 0);
  EXPECT_TRUE(same(ea, b->sample(16, 0)));
  EXPECT_FALSE(same(ea, c->sample(16, 0)));
  EXPECT_FALSE(same(ea, a->sample(16, 0)));
}

TEST(AssocRetrievalTask, RejectsOutOfRangeOptions) {
  EXPECT_THROW(task("assoc_retrieval", {{"pairs", "1"}}), credo::InputError);
  EXPECT_THROW(task("assoc_retrieval", {{"pairs", "11"}}), credo::InputError);
  EXPECT_THROW(task("assoc_retrieval", {{"letters", "4"}}), credo::InputError);
  EXPECT_THROW(task("assoc_retrieval")->sample(0, 0), credo::InputError);
}

// -------------------------------------------------------------------------------------------------- assoc_recall

// One decoded assoc_recall sequence.
struct Recall {
  std::vector<Eigen::MatrixXd> items;  // bits x item_len each
  int query = -1;                      // index of the item the query copies
  int answer_at = -1;                  // first answer step
};

// Reads sequence b of e step by step against the documented layout, failing the test on any deviation.
Recall decode_recall(const credo::Episode& e, int b, int bits, int item_len) {
  Recall r;
  const int item_delimiter = bits, query_delimiter = bits + 1;
  auto data = [&](int t) { return Eigen::MatrixXd(e.x.block(0, e.col(t, b), bits, 1)); };
  auto item_at = [&](int t) {
    Eigen::MatrixXd m(bits, item_len);
    for (int v = 0; v < item_len; ++v) {
      m.col(v) = data(t + v);
      EXPECT_EQ(e.x(item_delimiter, e.col(t + v, b)), 0.0);
      EXPECT_EQ(e.x(query_delimiter, e.col(t + v, b)), 0.0);
    }
    return m;
  };
  int t = 0;
  while (e.x(query_delimiter, e.col(t, b)) == 0.0) {
    if (t + item_len >= e.steps) {
      ADD_FAILURE() << "no query in sequence " << b;
      return r;
    }
    r.items.push_back(item_at(t));
    t += item_len;
    EXPECT_EQ(one_hot(e.x, e.col(t, b)), item_delimiter) << "no delimiter after item " << r.items.size() - 1;
    ++t;
  }
  EXPECT_EQ(one_hot(e.x, e.col(t, b)), query_delimiter);
  const Eigen::MatrixXd query = item_at(t + 1);
  t += item_len + 1;
  EXPECT_EQ(one_hot(e.x, e.col(t, b)), query_delimiter);
  r.answer_at = t + 1;
  for (size_t j = 0; j < r.items.size(); ++j)
    if (r.items[j] == query) {
      EXPECT_EQ(r.query, -1) << "query matches two items";
      r.query = static_cast<int>(j);
    }
  return r;
}

TEST(AssocRecallTask, DeclaresItsInterface) {
  auto t = task("assoc_recall");
  EXPECT_EQ(t->input_size(), 8);
  EXPECT_EQ(t->output_size(), 6);
  EXPECT_EQ(t->loss(), "sigmoid_xent");
  EXPECT_FALSE(t->streaming());
  EXPECT_TRUE(t->has_accuracy());
  EXPECT_NEAR(t->chance_loss(), 6 * std::log(2.0), 1e-12);
}

TEST(AssocRecallTask, TargetIsTheItemAfterTheQuery) {
  for (const auto& [bits, item_len, lo, hi] : {std::tuple{6, 3, 2, 6}, std::tuple{4, 1, 2, 2}, std::tuple{2, 2, 5, 9}}) {
    auto t = task("assoc_recall", {{"bits", std::to_string(bits)},
                                   {"item_len", std::to_string(item_len)},
                                   {"min_items", std::to_string(lo)},
                                   {"max_items", std::to_string(hi)}},
                  5);
    auto e = t->sample(300, 0);
    ASSERT_TRUE(binary(e.x) && binary(e.target) && binary(e.mask));
    std::set<int> counts, queries;
    int longest = 0;
    for (int b = 0; b < e.batch; ++b) {
      const Recall r = decode_recall(e, b, bits, item_len);
      const int n = static_cast<int>(r.items.size());
      ASSERT_GE(r.query, 0) << "the query copies no item";
      EXPECT_LE(r.query, n - 2) << "the query must have a successor";
      EXPECT_GE(n, lo);
      EXPECT_LE(n, hi);
      counts.insert(n);
      queries.insert(r.query);
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < i; ++j) EXPECT_NE(r.items[i], r.items[j]) << "items " << j << " and " << i;
      // Scored exactly on the item_len answer steps, with zero input, against item query+1.
      for (int s = 0; s < e.steps; ++s) {
        const bool answer = s >= r.answer_at && s < r.answer_at + item_len;
        EXPECT_EQ(e.mask(0, e.col(s, b)), answer ? 1.0 : 0.0) << "step " << s;
        if (s >= r.answer_at) {
          EXPECT_EQ(e.x.col(e.col(s, b)).sum(), 0.0) << "step " << s;
        }
        if (answer) {
          EXPECT_EQ(e.target.col(e.col(s, b)), r.items[r.query + 1].col(s - r.answer_at)) << "step " << s;
        } else {
          EXPECT_EQ(e.target.col(e.col(s, b)).sum(), 0.0);
        }
      }
      longest = std::max(longest, r.answer_at + item_len);
    }
    // The episode is as long as its longest sequence, every item count and every query position occurs.
    EXPECT_EQ(e.steps, longest);
    EXPECT_EQ(static_cast<int>(counts.size()), hi - lo + 1);
    EXPECT_EQ(static_cast<int>(queries.size()), hi - 1);
  }
}

TEST(AssocRecallTask, AnswerBitsAreFairSoChanceIsLn2PerBit) {
  auto t = task("assoc_recall");
  auto e = t->sample(4000, 0);
  EXPECT_NEAR((e.target * e.mask.transpose()).sum() / (6 * e.mask.sum()), 0.5, 0.01);
  EXPECT_NEAR(constant_loss(*t, e, Eigen::VectorXd::Zero(6)), t->chance_loss(), 1e-9);
  // A constant guess is wrong on half the 18 answer bits: 9 error bits per sequence.
  const auto m = t->metrics(e, Eigen::MatrixXd::Zero(6, e.x.cols()));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].name, "error_bits_per_sequence");
  EXPECT_NEAR(m[0].value, 9.0, 0.2);
  EXPECT_DOUBLE_EQ(m[0].value, ones_per_sequence(e));
  EXPECT_EQ(t->metrics(e, perfect_logits(e))[0].value, 0.0);
}

TEST(AssocRecallTask, SameSeedSameEpisodesDifferentSeedDifferent) {
  auto a = task("assoc_recall", {}, 7), b = task("assoc_recall", {}, 7), c = task("assoc_recall", {}, 8);
  auto ea = a->sample(16, 0);
  EXPECT_TRUE(same(ea, b->sample(16, 0)));
  EXPECT_FALSE(same(ea, c->sample(16, 0)));
  EXPECT_FALSE(same(ea, a->sample(16, 0)));
}

TEST(AssocRecallTask, RejectsOutOfRangeOptions) {
  EXPECT_THROW(task("assoc_recall", {{"min_items", "1"}}), credo::InputError);
  EXPECT_THROW(task("assoc_recall", {{"min_items", "7"}}), credo::InputError);  // above max_items 6
  EXPECT_THROW(task("assoc_recall", {{"bits", "0"}}), credo::InputError);
  EXPECT_THROW(task("assoc_recall", {{"item_len", "0"}}), credo::InputError);
  // One bit per item has only two patterns: three distinct items cannot exist.
  EXPECT_THROW(task("assoc_recall", {{"bits", "1"}, {"item_len", "1"}, {"max_items", "3"}}), credo::InputError);
  EXPECT_NO_THROW(task("assoc_recall", {{"bits", "1"}, {"item_len", "1"}, {"max_items", "2"}})->sample(8, 0));
  EXPECT_THROW(task("assoc_recall")->sample(0, 0), credo::InputError);
}

// ------------------------------------------------------------------------------------------------------ bit_copy

TEST(BitCopyTask, DeclaresItsInterface) {
  auto t = task("bit_copy");
  EXPECT_EQ(t->input_size(), 9);
  EXPECT_EQ(t->output_size(), 8);
  EXPECT_EQ(t->loss(), "sigmoid_xent");
  EXPECT_FALSE(t->streaming());
  EXPECT_TRUE(t->has_accuracy());
  EXPECT_NEAR(t->chance_loss(), 8 * std::log(2.0), 1e-12);
}

// Checks that every sequence of e is L vectors, a lone delimiter, then L zero-input recall steps scored against
// the vectors, and returns the lengths.
std::vector<int> expect_copy_episode(const credo::Episode& e, int bits) {
  std::vector<int> lengths;
  EXPECT_TRUE(binary(e.x) && binary(e.target) && binary(e.mask));
  int longest = 0;
  for (int b = 0; b < e.batch; ++b) {
    int L = 0;
    while (L < e.steps && e.x(bits, e.col(L, b)) == 0.0) ++L;
    EXPECT_LT(L, e.steps) << "no delimiter in sequence " << b;
    EXPECT_EQ(one_hot(e.x, e.col(L, b)), bits) << "the delimiter step carries data";
    for (int s = 0; s < e.steps; ++s) {
      const Eigen::Index c = e.col(s, b);
      const bool recall = s > L && s <= 2 * L;
      EXPECT_EQ(e.mask(0, c), recall ? 1.0 : 0.0) << "step " << s;
      if (s > L) {
        EXPECT_EQ(e.x.col(c).sum(), 0.0) << "input after the delimiter at step " << s;
      }
      if (recall) {
        EXPECT_EQ(e.target.col(c), e.x.col(e.col(s - L - 1, b)).head(bits)) << "sequence " << b << " step " << s;
      } else {
        EXPECT_EQ(e.target.col(c).sum(), 0.0);
      }
    }
    lengths.push_back(L);
    longest = std::max(longest, L);
  }
  EXPECT_EQ(e.steps, 2 * longest + 1);
  return lengths;
}

TEST(BitCopyTask, RecallIsTheInputSequence) {
  auto t = task("bit_copy");
  auto e = t->sample(400, 0);
  const auto lengths = expect_copy_episode(e, 8);
  const std::set<int> seen(lengths.begin(), lengths.end());
  EXPECT_EQ(*seen.begin(), 1);
  EXPECT_EQ(*seen.rbegin(), 20);
  EXPECT_EQ(seen.size(), 20u);
  auto f = task("bit_copy", {{"bits", "3"}, {"min_length", "40"}, {"max_length", "40"}})->sample(5, 0);
  for (int L : expect_copy_episode(f, 3)) EXPECT_EQ(L, 40);
  EXPECT_EQ(f.steps, 81);
}

TEST(BitCopyTask, BitsAreFairSoChanceIsLn2PerBitAndRandomGuessingMakes42ErrorBits) {
  auto t = task("bit_copy");
  auto e = t->sample(4000, 0);
  EXPECT_NEAR((e.target * e.mask.transpose()).sum() / (8 * e.mask.sum()), 0.5, 0.01);
  EXPECT_NEAR(constant_loss(*t, e, Eigen::VectorXd::Zero(8)), t->chance_loss(), 1e-9);
  // A constant guess is wrong on half of 8 bits x E[L] = 10.5 steps.
  const auto m = t->metrics(e, Eigen::MatrixXd::Zero(8, e.x.cols()));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].name, "error_bits_per_sequence");
  EXPECT_NEAR(m[0].value, 42.0, 1.0);
}

TEST(BitCopyTask, ErrorBitsOfPerfectConstantAndFlippedPredictions) {
  auto t = task("bit_copy", {{"min_length", "3"}, {"max_length", "7"}});
  auto e = t->sample(50, 0);
  const Eigen::MatrixXd perfect = perfect_logits(e);
  EXPECT_EQ(t->metrics(e, perfect)[0].value, 0.0);
  // Predicting 0 everywhere is wrong exactly on the ones; predicting 1 exactly on the zeros.
  EXPECT_DOUBLE_EQ(t->metrics(e, Eigen::MatrixXd::Constant(8, e.x.cols(), -3.0))[0].value, ones_per_sequence(e));
  const double scored_bits_per_sequence = 8 * e.mask.sum() / e.batch;
  EXPECT_DOUBLE_EQ(t->metrics(e, Eigen::MatrixXd::Constant(8, e.x.cols(), 3.0))[0].value,
                   scored_bits_per_sequence - ones_per_sequence(e));
  // Unscored outputs never count, and flipping one scored bit in one sequence costs 1 / batch.
  Eigen::MatrixXd noisy = perfect;
  for (Eigen::Index c = 0; c < e.mask.cols(); ++c)
    if (e.mask(0, c) == 0.0) noisy.col(c).setConstant(7.0);
  EXPECT_EQ(t->metrics(e, noisy)[0].value, 0.0);
  const Eigen::Index first = e.col(4, 0);  // sequence 0 has L >= 3, so step 4 is a recall step
  ASSERT_EQ(e.mask(0, first), 1.0);
  noisy(2, first) = -noisy(2, first);
  EXPECT_DOUBLE_EQ(t->metrics(e, noisy)[0].value, 1.0 / e.batch);
  EXPECT_THROW(credo::error_bits_per_sequence(e, Eigen::MatrixXd::Zero(7, e.x.cols())), std::invalid_argument);
}

TEST(BitCopyTask, SameSeedSameEpisodesDifferentSeedDifferent) {
  auto a = task("bit_copy", {}, 7), b = task("bit_copy", {}, 7), c = task("bit_copy", {}, 8);
  auto ea = a->sample(16, 0);
  EXPECT_TRUE(same(ea, b->sample(16, 0)));
  EXPECT_FALSE(same(ea, c->sample(16, 0)));
  EXPECT_FALSE(same(ea, a->sample(16, 0)));
}

TEST(BitCopyTask, RejectsOutOfRangeOptions) {
  EXPECT_THROW(task("bit_copy", {{"bits", "0"}}), credo::InputError);
  EXPECT_THROW(task("bit_copy", {{"min_length", "0"}}), credo::InputError);
  EXPECT_THROW(task("bit_copy", {{"max_length", "1.5"}}), credo::InputError);
  try {
    task("bit_copy", {{"min_length", "21"}});
    ADD_FAILURE() << "min_length > max_length accepted";
  } catch (const credo::InputError& err) {
    EXPECT_NE(std::string(err.what()).find("min_length (21) is greater than max_length (20)"), std::string::npos)
        << err.what();
  }
  EXPECT_THROW(task("bit_copy")->sample(0, 0), credo::InputError);
}

// ------------------------------------------------------------------------------- metrics and eval options in use

// A streaming task with a metric describing what it was handed: the trainer must give it only the scored part of
// the held-out stream (after the warm-up) and the outputs on exactly those steps.
class ProbeStream final : public credo::Task {
 public:
  ProbeStream(const credo::Options&, std::uint64_t seed) : rng_(seed) {}
  int input_size() const override { return 1; }
  int output_size() const override { return 1; }
  std::string loss() const override { return "sigmoid_xent"; }
  bool streaming() const override { return true; }
  bool has_accuracy() const override { return false; }
  double chance_loss() const override { return std::log(2.0); }
  credo::Episode sample(int batch, int steps) override {
    auto e = credo::Episode::zeros(1, 1, steps, batch);
    std::bernoulli_distribution coin(0.5);
    for (Eigen::Index c = 0; c < e.x.cols(); ++c) e.x(0, c) = e.target(0, c) = coin(rng_);
    e.mask.setOnes();
    return e;
  }
  std::vector<credo::Metric> metrics(const credo::Episode& e, const Eigen::MatrixXd& outputs) const override {
    const bool consistent = outputs.rows() == 1 && outputs.cols() == e.x.cols() && e.target.cols() == e.x.cols() &&
                            e.mask.cols() == e.x.cols() && e.x.cols() == static_cast<Eigen::Index>(e.steps) * e.batch;
    return {{"steps", static_cast<double>(e.steps)},
            {"batch", static_cast<double>(e.batch)},
            {"consistent", consistent ? 1.0 : 0.0},
            {"finite_outputs", outputs.allFinite() ? 1.0 : 0.0}};
  }

 private:
  std::mt19937_64 rng_;
};

CREDO_REGISTER_TASK("test_probe_stream", ProbeStream, "test only: reports what its metrics were given", {});

class TrainerMetrics : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("credo_memory_tasks_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  static std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  std::filesystem::path dir_;
};

TEST_F(TrainerMetrics, StreamingMetricsSeeOnlyTheScoredSteps) {
  credo::TrainConfig c;
  c.model = write("m.dot", R"(digraph m { x [kind=input size=1]; h [kind=tanh size=3]; y [kind=output size=1];
    x -> h; h -> h [delay=1]; h -> y; })");
  c.task = "test_probe_stream";
  c.algorithm = "rtrl";
  c.steps = 5;
  c.batch = 2;
  c.eval_steps = 37;
  c.out = (dir_ / "out").string();
  const auto r = credo::train(c);
  const auto& m = r.summary.at("eval_metrics");
  EXPECT_EQ(m.at("steps"), 37.0);
  EXPECT_EQ(m.at("batch"), 8.0);  // the evaluation's fixed number of streams
  EXPECT_EQ(m.at("consistent"), 1.0);
  EXPECT_EQ(m.at("finite_outputs"), 1.0);
  const std::string csv = slurp(dir_ / "out" / "metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "step,train_loss,eval_loss,eval_accuracy,wall_seconds,steps,batch,consistent,finite_outputs");
  // Every row has the extra columns.
  std::istringstream lines(csv);
  int rows = 0;
  for (std::string line; std::getline(lines, line); ++rows) EXPECT_EQ(std::count(line.begin(), line.end(), ','), 8);
  EXPECT_EQ(rows, 1 + 6);
}

TEST_F(TrainerMetrics, EvaluatesOnTheOverriddenSettingsWithTheTasksChanceLoss) {
  credo::TrainConfig c;
  c.model = write("m.dot", R"(digraph m { x [kind=input size=9]; h [kind=lstm size=8]; y [kind=output size=8];
    x -> h; h -> h [delay=1]; h -> y; })");
  c.task = "bit_copy";
  c.algorithm = "bptt";
  c.steps = 2;
  c.batch = 4;
  c.eval_batch = 64;
  const double at_training_lengths = credo::train(c).summary.at("eval_metrics").at("error_bits_per_sequence");
  c.eval_task_options = {{"min_length", "40"}, {"max_length", "40"}};
  const auto r = credo::train(c);
  const double at_40 = r.summary.at("eval_metrics").at("error_bits_per_sequence");
  // An untrained network is right on about half the recalled bits: 4 x 10.5 = 42 at lengths 1-20, 160 at 40.
  EXPECT_GT(at_training_lengths, 25);
  EXPECT_LT(at_training_lengths, 60);
  EXPECT_GT(at_40, 120);
  EXPECT_LT(at_40, 200);
  EXPECT_NEAR(r.chance_loss, 8 * std::log(2.0), 1e-12);
  // Overrides are checked like task options, and name --eval-task-opt.
  for (const Opts& bad : {Opts{{"lenght", "40"}}, Opts{{"max_length", "0"}}, Opts{{"min_length", "21"}},
                          Opts{{"bits", "4"}}}) {
    c.eval_task_options = bad;
    try {
      credo::train(c);
      ADD_FAILURE() << bad.begin()->first << " accepted";
    } catch (const credo::InputError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--eval-task-opt: ", 0), 0u) << e.what();
    }
  }
}

}  // namespace
