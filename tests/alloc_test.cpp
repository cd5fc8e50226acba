// No heap allocation per time step once shapes are known: every registered algorithm, counted by
// interposing malloc in this test binary.
#include <atomic>
#include <cstdlib>
#include <random>

#include <gtest/gtest.h>

#include "framework/credit.h"
#include "framework/gradcheck.h"
#include "framework/graph.h"
#include "framework/module.h"
#include "framework/program.h"
#include "tests/test_mix.h"

// AddressSanitizer owns malloc, so under it this binary cannot interpose malloc and its tests skip themselves.
#if defined(__SANITIZE_ADDRESS__)
#define CREDO_COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CREDO_COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef CREDO_COUNTS_ALLOCATIONS
#define CREDO_COUNTS_ALLOCATIONS 1
#endif

// Eigen allocates with malloc and operator new ends in malloc, so counting malloc (interposed over glibc's)
// sees every heap allocation.
namespace {
std::atomic<long> allocations{0};

// Skips every test of this binary when allocations cannot be counted.
class CountingAllocations : public ::testing::Environment {
 public:
  void SetUp() override {
    if (!CREDO_COUNTS_ALLOCATIONS) GTEST_SKIP() << "allocations are not counted under AddressSanitizer";
  }
};
[[maybe_unused]] ::testing::Environment* const counting = ::testing::AddGlobalTestEnvironment(new CountingAllocations);
}  // namespace

#if CREDO_COUNTS_ALLOCATIONS
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);

void* malloc(std::size_t n) {
  ++allocations;
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  ++allocations;
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  ++allocations;
  return __libc_realloc(p, n);
}
}
#endif

namespace credo {
namespace {

class Allocations : public ::testing::TestWithParam<std::string> {};

long episode_allocations(const std::string& dot, const std::string& algorithm) {
  ModelGraph g = parse_model(dot, "alloc.dot");
  resolve_output_losses(g, "softmax_xent", "test");
  Program<float> prog(g);
  std::mt19937_64 rng(1);
  prog.init_params(rng);
  auto algo = make_algorithm<float>(algorithm, {}, prog);
  const int B = 2, T = 12;
  Mat<float> x = Mat<float>::Random(3, B), target = Mat<float>::Zero(2, B), mask = Mat<float>::Ones(1, B);
  target.row(0).setOnes();
  Vec<float> grad = Vec<float>::Zero(prog.param_count());
  // Counts what the steps and the end of the episode allocate (reset may size buffers).
  auto episode = [&] {
    algo->reset(B);
    const long before = allocations.load();
    for (int t = 0; t < T; ++t) algo->step(x, target, mask, grad);
    algo->end_chunk(true, grad);
    return allocations.load() - before;
  };
  episode();
  episode();
  return episode();
}

TEST_P(Allocations, NonePerStepOnceShapesAreKnown) {
  EXPECT_EQ(episode_allocations(R"(digraph m { x [kind=input size=3]; h [kind=tanh size=8 alpha=0.5];
      y [kind=output size=2]; x -> h; h -> h [delay=1]; h -> y; })", GetParam()), 0)
      << GetParam() << " allocated during an episode";
}

// The same with a memory module in the graph (fed at delay 0, read back at delay 1 and by the output).
TEST_P(Allocations, NonePerStepWithAModule) {
  const auto& kind = AlgorithmRegistry::get().find(GetParam(), "algorithm").make;
  if (kind.unit_local || !kind.supports.empty()) GTEST_SKIP() << GetParam() << " does not train modules";
  EXPECT_EQ(episode_allocations(R"(digraph m { x [kind=input size=3]; h [kind=tanh size=8 alpha=0.5];
      m [kind=test_mix size=4]; y [kind=output size=2]; x -> h; h -> h [delay=1]; h -> m [port=a];
      x -> m [port=b]; m -> h [delay=1]; m -> y; h -> y; })", GetParam()), 0)
      << GetParam() << " allocated during an episode with a module";
}

// A memory module's forward, VJP and JVP, once its scratch is sized by a first call.
TEST(ModuleAllocations, FastWeightsNonePerStep) {
  const auto& e = PopulationRegistry::get().find("fast_weights", "population kind");
  for (const char* ln : {"0", "1"}) {
    auto m = e.make.module_float(6, Options("alloc", e.options, {{"inner", "2"}, {"layer_norm", ln}}));
    const auto& sh = m->shape();
    const int B = 3, K = 2;
    Mat<float> in = Mat<float>::Random(sh.in_rows(), B), prev = Mat<float>::Random(sh.state, B);
    Mat<float> out(sh.out, B), state(sh.state, B), work(sh.work, B);
    Mat<float> dout = Mat<float>::Random(sh.out, B), dstate = Mat<float>::Random(sh.state, B);
    Mat<float> din(sh.in_rows(), B), dprev = Mat<float>::Zero(sh.state, B);
    Mat<float> tin = Mat<float>::Random(sh.in_rows(), K), tprev = Mat<float>::Random(sh.state, K);
    Mat<float> tout(sh.out, K), tstate(sh.state, K);
    const ConstMatRef<float> tprev_ref(tprev);
    auto step = [&] {
      const long before = allocations.load();
      m->forward(in, prev, out, state, work);
      m->vjp({in, prev, out, state, work}, dout, dstate, din, dprev);
      const ModuleValues<float> v{in.col(0), prev.col(0), out.col(0), state.col(0), work.col(0)};
      m->jvp(v, tin, &tprev_ref, tout, tstate);
      m->jvp(v, tin, nullptr, tout, tstate);
      return allocations.load() - before;
    };
    step();
    EXPECT_EQ(step(), 0) << "layer_norm=" << ln;
  }
}

// The same with the attention module (memory/attention.cpp), top-k, storing every other step, wrapping around.
TEST_P(Allocations, NonePerStepWithAttention) {
  const auto& kind = AlgorithmRegistry::get().find(GetParam(), "algorithm").make;
  if (kind.unit_local || !kind.supports.empty()) GTEST_SKIP() << GetParam() << " does not train modules";
  EXPECT_EQ(episode_allocations(R"(digraph m { x [kind=input size=3]; h [kind=lstm size=4];
      m [kind=attention size=4 slots=5 every=2 top=2 key_size=3]; y [kind=output size=2]; x -> h;
      h -> h [delay=1]; h -> m [port=key]; h -> m [port=value]; h -> m [port=query]; m -> y;
      m -> h [delay=1]; h -> y; })", GetParam()), 0)
      << GetParam() << " allocated during an episode with attention";
}

// The same with the ntm module (memory/ntm.cpp): two read heads, an LSTM controller reading the last reads.
TEST_P(Allocations, NonePerStepWithNtm) {
  const auto& kind = AlgorithmRegistry::get().find(GetParam(), "algorithm").make;
  if (kind.unit_local || !kind.supports.empty()) GTEST_SKIP() << GetParam() << " does not train modules";
  EXPECT_EQ(episode_allocations(R"(digraph m { x [kind=input size=3]; h [kind=lstm size=4];
      m [kind=ntm size=3 slots=6 reads=2]; y [kind=output size=2]; x -> h; h -> h [delay=1];
      h -> m [port=read]; h -> m [port=write]; m -> h [delay=1]; m -> y; h -> y; })", GetParam()), 0)
      << GetParam() << " allocated during an episode with an ntm";
}

std::vector<std::string> algorithms() {
  std::vector<std::string> names;
  for (const auto& [name, e] : AlgorithmRegistry::get().all())
    if (e.make.supports.empty() || std::find(e.make.supports.begin(), e.make.supports.end(), "tanh") != e.make.supports.end())
      names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Algorithms, Allocations, ::testing::ValuesIn(algorithms()),
                         [](const auto& info) { return info.param; });

// The attention module on its own: once its scratch is sized, forward, the batched VJP, the one-column VJP
// and JVPs with varying tangent counts allocate nothing, whichever order they come in.
TEST(ModuleAllocations, AttentionNonePerStep) {
  for (const char* top : {"0", "3"}) {
    const auto& e = PopulationRegistry::get().find("attention", "population kind");
    auto m = e.make.module_float(6, Options("alloc", e.options, {{"slots", "8"}, {"every", "2"}, {"top", top}}));
    const auto& sh = m->shape();
    const int B = 4, R = sh.in_rows(), S = sh.state, O = sh.out, W = sh.work, K = 5;
    Mat<float> in = Mat<float>::Random(R, B), sp = Mat<float>::Zero(S, B), st(S, B), out(O, B), work(W, B);
    Mat<float> dout = Mat<float>::Random(O, B), dst = Mat<float>::Random(S, B), din(R, B), dsp(S, B);
    Mat<float> tin = Mat<float>::Random(R, K), tsp = Mat<float>::Random(S, K), tout(O, K), tst(S, K);
    auto round = [&] {
      for (int t = 0; t < 12; ++t) {
        m->forward(in, sp, out, st, work);
        const ModuleValues<float> v{in, sp, out, st, work};
        dsp.setZero();
        m->vjp(v, dout, dst, din, dsp);
        m->vjp({in.col(1), sp.col(1), out.col(1), st.col(1), work.col(1)}, dout.col(1), dst.col(1), din.col(1),
               dsp.col(1));
        const ModuleValues<float> v0{in.col(0), sp.col(0), out.col(0), st.col(0), work.col(0)};
        const ConstMatRef<float> tsp_ref(tsp);
        m->jvp(v0, tin, &tsp_ref, tout, tst);
        m->jvp(v0, tin.leftCols(2), nullptr, tout.leftCols(2), tst.leftCols(2));
        sp = st;
      }
    };
    round();
    sp.setZero();
    const long before = allocations.load();
    round();
    EXPECT_EQ(allocations.load() - before, 0) << "top=" << top;
  }
}

// Memory modules run per batch column on scratch sized at construction: forward, vjp and jvp allocate nothing.
TEST(ModuleAllocations, NtmNonePerStep) {
  const auto& entry = PopulationRegistry::get().find("ntm", "population kind");
  auto m = entry.make.module_float(5, Options("alloc", entry.options, {{"slots", "16"}, {"reads", "2"}}));
  const auto& sh = m->shape();
  const int B = 3, K = 4;
  Mat<float> in = Mat<float>::Random(sh.in_rows(), B), state = Mat<float>::Zero(sh.state, B), out(sh.out, B),
             next(sh.state, B), work(sh.work, B);
  Mat<float> dout = Mat<float>::Random(sh.out, B), dstate = Mat<float>::Random(sh.state, B), din(sh.in_rows(), B),
             dprev = Mat<float>::Zero(sh.state, B);
  Mat<float> tin = Mat<float>::Random(sh.in_rows(), K), tprev = Mat<float>::Random(sh.state, K), tout(sh.out, K),
             tstate(sh.state, K);
  const ConstMatRef<float> tprev_ref(tprev);
  auto steps = [&] {
    const long before = allocations.load();
    for (int t = 0; t < 5; ++t) {
      m->forward(in, state, out, next, work);
      const ModuleValues<float> v{in, state, out, next, work};
      m->vjp(v, dout, dstate, din, dprev);
      const ModuleValues<float> v0{in.col(0), state.col(0), out.col(0), next.col(0), work.col(0)};
      m->jvp(v0, tin, &tprev_ref, tout, tstate);
      m->jvp(v0, tin, nullptr, tout, tstate);
      state.swap(next);
    }
    return allocations.load() - before;
  };
  steps();
  EXPECT_EQ(steps(), 0);
}

}  // namespace
}  // namespace credo
