// Learned feedback pathways (Kunin et al. 2020's rules, recurrent/credit/feedback.h): each rule moves B as its
// primitives say, on small cases with known fixed points, and e-prop and RFLO use them.
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/graph.h"
#include "framework/program.h"
#include "recurrent/credit/feedback.h"

namespace credo {
namespace {

using M = Mat<double>;

M random(int rows, int cols, std::mt19937_64& rng, double sd = 1) {
  std::normal_distribution<double> n(0, sd);
  return M::NullaryExpr(rows, cols, [&] { return n(rng); });
}

double rel(const M& a, const M& b) { return (a - b).norm() / b.norm(); }

// A readout W: 3 outputs from 5 inputs; B is 5 x 3.
struct Case {
  std::mt19937_64 rng{4};
  M w = random(3, 5, rng);
  FeedbackPathway<double> b;
  Case() { b.draw(5, 3, 1.0, rng); }
};

TEST(FeedbackRule, FeedbackAlignmentKeepsB) {
  Case c;
  const M b0 = c.b.matrix();
  const auto rule = feedback_rule("feedback_alignment", -1, -1, -1);
  for (int t = 0; t < 10; ++t) c.b.learn(rule, 0.1, c.w, random(5, 4, c.rng));
  EXPECT_EQ(c.b.matrix(), b0);
}

TEST(FeedbackRule, AmpAloneIsHebbianBetweenInputAndOutput) {
  // Weight mirror without its decay: ΔB = lr beta E[x rᵀ], r = W x.
  Case c;
  const M b0 = c.b.matrix(), x = random(5, 4, c.rng);
  c.b.learn(feedback_rule("weight_mirror", 0, 2, -1), 0.1, c.w, x);
  EXPECT_LE(rel(c.b.matrix() - b0, 0.1 * 2 * x * (c.w * x).transpose() / 4), 1e-14);
}

TEST(FeedbackRule, DecayShrinksB) {
  Case c;
  const M b0 = c.b.matrix();
  c.b.learn(feedback_rule("weight_mirror", 0.5, 0, -1), 0.1, c.w, random(5, 4, c.rng));
  EXPECT_LE(rel(c.b.matrix(), 0.9 * b0), 1e-14);
}

TEST(FeedbackRule, SymmetricAlignmentDrivesBToAMultipleOfWTransposed) {
  // Decay + Self: dP/dB = 2 alpha B − beta Wᵀ vanishes at B = (beta / 2 alpha) Wᵀ, whatever the inputs.
  for (auto [alpha, beta] : {std::pair{0.5, 1.0}, {1.0, 3.0}}) {
    Case c;
    const auto rule = feedback_rule("symmetric_alignment", alpha, beta, -1);
    EXPECT_LT(c.b.alignment(c.w), 0.9);
    for (int t = 0; t < 400; ++t) c.b.learn(rule, 0.05, c.w, random(5, 4, c.rng));
    EXPECT_LE(rel(c.b.matrix(), beta / (2 * alpha) * c.w.transpose()), 1e-6);
    EXPECT_NEAR(c.b.alignment(c.w), 1.0, 1e-12);
  }
}

TEST(FeedbackRule, WeightMirrorAndActivationAlignmentReachWTransposedOnWhitenedInputs) {
  // With E[x xᵀ] = I (here exactly: x = √5 I over a batch of 5), weight mirror's fixed point
  // (beta / 2 alpha) E[x xᵀ] Wᵀ and activation alignment's (beta / 2 alpha) E[x xᵀ]⁻¹ Wᵀ are both Wᵀ.
  const M x = std::sqrt(5.0) * M::Identity(5, 5);
  for (const char* name : {"weight_mirror", "activation_alignment"}) {
    Case c;
    const auto rule = feedback_rule(name, -1, -1, -1);
    for (int t = 0; t < 400; ++t) c.b.learn(rule, 0.05, c.w, x);
    EXPECT_LE(rel(c.b.matrix(), c.w.transpose()), 1e-6) << name;
  }
}

TEST(FeedbackRule, InformationAlignmentReachesItsStationaryPoint) {
  // alpha Amp + beta Null + gamma Decay on a fixed batch: the descent stops where
  // alpha E[x rᵀ] = 2 beta E[B r rᵀ] + 2 gamma B, an Oja-like balance; B then points along Wᵀ's span.
  Case c;
  const M x = random(5, 8, c.rng);
  const auto rule = feedback_rule("information_alignment", -1, -1, -1);
  for (int t = 0; t < 4000; ++t) c.b.learn(rule, 0.01, c.w, x);
  const M r = c.w * x, B = c.b.matrix();
  const M stationary = x * r.transpose() / 8 - 2 * B * r * r.transpose() / 8 - B;
  EXPECT_LE(stationary.norm(), 1e-8 * (x * r.transpose()).norm());
  EXPECT_GT(c.b.alignment(c.w), 0.5);
}

TEST(FeedbackRule, KolenPollackGivesBTheUpdatesOfW) {
  Case c;
  const auto rule = feedback_rule("kolen_pollack", -1, -1, -1);
  const M b0 = c.b.matrix(), w0 = c.w;
  c.b.follow(rule, c.w);
  for (int t = 0; t < 5; ++t) {
    c.w += random(3, 5, c.rng, 0.3);
    c.b.follow(rule, c.w);
    c.b.learn(rule, 0.1, c.w, random(5, 4, c.rng));
  }
  EXPECT_LE(rel(c.b.matrix() - c.w.transpose(), b0 - w0.transpose()), 1e-14);
  EXPECT_THROW(feedback_rule("kolen", -1, -1, -1), InputError);
}

// A leaky tanh network whose readout stays fixed: adaptive feedback with symmetric alignment turns B into Wᵀ, so
// e-prop's and RFLO's hidden updates become those of symmetric feedback.
TEST(FeedbackRule, SymmetricAlignmentTurnsRandomFeedbackIntoSymmetricFeedback) {
  ModelGraph g = parse_model("digraph l { x [kind=input size=2]; h [kind=tanh size=6 alpha=0.5]; y [kind=output "
                             "size=2 kappa=0.3]; x -> h; h -> h [delay=1]; h -> y; }",
                             "fb.dot");
  resolve_output_losses(g, "mse", "test");
  Program<double> prog(g);
  std::mt19937_64 rng(2);
  prog.init_params(rng);
  std::vector<M> xs, ts;
  for (int t = 0; t < 300; ++t) xs.push_back(random(2, 3, rng)), ts.push_back(random(2, 3, rng));
  const M mask = M::Ones(1, 3);
  for (const char* algo : {"eprop", "rflo"}) {
    if (std::string(algo) == "rflo") {
      // RFLO needs a memoryless readout.
      g.populations[2].attributes["kappa"] = "0";
    }
    Program<double> p(g);
    p.params() = prog.params();
    auto adaptive = make_algorithm<double>(algo, {{"feedback", "adaptive"}, {"rule", "symmetric_alignment"},
                                                  {"feedback_lr", "0.05"}}, p);
    auto symmetric = make_algorithm<double>(algo, {{"feedback", "symmetric"}}, p);
    auto random_fb = make_algorithm<double>(algo, {{"feedback", "random"}}, p);
    adaptive->reset(3), symmetric->reset(3), random_fb->reset(3);
    Vec<double> ga, gs, gr;
    for (int t = 0; t < 300; ++t) {
      ga = gs = gr = Vec<double>::Zero(p.param_count());
      adaptive->step(xs[t], ts[t], mask, ga);
      symmetric->step(xs[t], ts[t], mask, gs);
      random_fb->step(xs[t], ts[t], mask, gr);
      if (t == 0) {
        EXPECT_EQ(ga, gr) << algo;  // B starts as the random one
      }
    }
    EXPECT_LE((ga - gs).norm(), 1e-6 * gs.norm()) << algo;
    EXPECT_GT((gr - gs).norm(), 1e-2 * gs.norm()) << algo;
  }
}

}  // namespace
}  // namespace credo
