// Learning-rate schedules, warm-up, decoupled weight decay and the optimizer's state (framework/optimizer.h).
#include <cmath>
#include <numbers>

#include <gtest/gtest.h>

#include "framework/error.h"
#include "framework/optimizer.h"

namespace credo {
namespace {

OptimizerConfig config(const std::string& schedule, long warmup = 0, double wd = 0, const std::string& name = "sgd") {
  OptimizerConfig c;
  c.name = name;
  c.lr = 0.1;
  c.schedule = schedule;
  c.warmup = warmup;
  c.weight_decay = wd;
  c.total = 100;
  return c;
}

TEST(Schedule, RatesFollowTheSchedule) {
  const Optimizer<double> constant(config("constant"), 3);
  EXPECT_EQ(constant.rate(0), 0.1);
  EXPECT_EQ(constant.rate(99), 0.1);
  const Optimizer<double> step(config("step:every=10:factor=0.5"), 3);
  EXPECT_DOUBLE_EQ(step.rate(9), 0.1);
  EXPECT_DOUBLE_EQ(step.rate(10), 0.05);
  EXPECT_DOUBLE_EQ(step.rate(35), 0.0125);
  const Optimizer<double> cosine(config("cosine:min=0.1"), 3);
  EXPECT_DOUBLE_EQ(cosine.rate(0), 0.1);
  EXPECT_DOUBLE_EQ(cosine.rate(50), 0.1 * (0.1 + 0.9 * 0.5));
  EXPECT_DOUBLE_EQ(cosine.rate(100), 0.01);
  EXPECT_DOUBLE_EQ(cosine.rate(150), 0.01);  // past the horizon it stays at the minimum
  const Optimizer<double> warm(config("cosine", 4), 3);
  EXPECT_DOUBLE_EQ(warm.rate(0), 0.1 * 0.25 * 0.5 * (1 + std::cos(0.0)));
  EXPECT_DOUBLE_EQ(warm.rate(3), 0.1 * 0.5 * (1 + std::cos(std::numbers::pi * 0.03)));
  EXPECT_DOUBLE_EQ(warm.rate(4), 0.1 * 0.5 * (1 + std::cos(std::numbers::pi * 0.04)));
}

TEST(Schedule, SgdStepsWithTheScheduledRateAndDecoupledDecay) {
  Optimizer<double> opt(config("step:every=1:factor=0.5", 0, 0.2), 2);
  Eigen::VectorXd theta(2), grad(2);
  theta << 1, -2;
  grad << 1, 1;
  Eigen::VectorXd g = grad;
  opt.apply(theta, g);  // lr 0.1: θ (1 - 0.02) - 0.1 g
  EXPECT_DOUBLE_EQ(theta[0], 0.98 - 0.1);
  EXPECT_DOUBLE_EQ(theta[1], -1.96 - 0.1);
  g = grad;
  opt.apply(theta, g);  // lr 0.05
  EXPECT_DOUBLE_EQ(theta[0], 0.88 * 0.99 - 0.05);
  EXPECT_EQ(opt.updates(), 2);
}

TEST(Schedule, ConstantIsThePlainOptimizerBitForBit) {
  // Without a schedule, warm-up or decay the updates are those of the plain Adam step.
  Optimizer<float> opt(config("constant", 0, 0, "adam"), 3);
  Eigen::VectorXf theta(3), m = Eigen::VectorXf::Zero(3), v = m;
  theta << 0.5f, -1, 2;
  Eigen::VectorXf mine = theta;
  for (int t = 1; t <= 5; ++t) {
    Eigen::VectorXf grad(3);
    grad << 0.1f * t, -0.3f, 0.7f / t;
    Eigen::VectorXf g = grad;
    opt.apply(mine, g);
    m = 0.9f * m + (1 - 0.9f) * grad;
    v = 0.999f * v + (1 - 0.999f) * grad.cwiseAbs2();
    const float step = static_cast<float>(0.1 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t)));
    theta.array() -= step * m.array() / (v.array().sqrt() + 1e-8f);
    EXPECT_EQ(mine, theta) << "update " << t;
  }
}

TEST(Schedule, StateRoundTripContinuesExactly) {
  Optimizer<double> a(config("cosine", 3, 0.01, "adam"), 4), b(config("cosine", 3, 0.01, "adam"), 4);
  Eigen::VectorXd ta = Eigen::VectorXd::LinSpaced(4, -1, 1), tb;
  auto grad = [](int k) { return Eigen::VectorXd::Constant(4, std::sin(k)); };
  for (int k = 0; k < 7; ++k) {
    Eigen::VectorXd g = grad(k);
    a.apply(ta, g);
  }
  tb = ta;
  b.set_state(a.state(), "test");
  for (int k = 7; k < 12; ++k) {
    Eigen::VectorXd g1 = grad(k), g2 = grad(k);
    a.apply(ta, g1);
    b.apply(tb, g2);
  }
  EXPECT_EQ(ta, tb);
  Optimizer<double> small(config("constant", 0, 0, "adam"), 3);
  EXPECT_THROW(small.set_state(a.state(), "ckpt"), InputError);
  Optimizer<double> sgd(config("constant"), 4);
  EXPECT_THROW(sgd.set_state(a.state(), "ckpt"), InputError);
}

TEST(Schedule, BadSettingsNameTheirOption) {
  auto refused = [](const OptimizerConfig& c, const std::string& needle) {
    try {
      Optimizer<double>(c, 2);
      ADD_FAILURE() << "accepted; expected an error naming " << needle;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused(config("linear"), "--lr-schedule is 'linear'");
  refused(config("step:every=0"), "--lr-schedule 'step'");
  refused(config("step:factor=2"), "factor");
  refused(config("cosine:floor=0.1"), "floor");
  refused(config("constant", -1), "--warmup");
  refused(config("constant", 0, -0.1), "--weight-decay");
}

}  // namespace
}  // namespace credo
