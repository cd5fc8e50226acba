// The extension authors' suites (framework/testing.h) run on every built-in hidden population kind and memory
// module.
#include <cctype>

#include "framework/testing.h"

namespace credo::testing {

INSTANTIATE_TEST_SUITE_P(Builtin, PopulationSuite,
                         ::testing::Values("kind=tanh", "kind=tanh alpha=0.3", "kind=gru", "kind=lstm",
                                           "kind=lstm forget_bias=-1"),
                         [](const auto& info) {
                           std::string s;
                           for (char c : info.param) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

// The spiking kinds (their exact algorithms against BPTT: finite differences do not apply to a surrogate
// derivative) and their smooth twins registered in spiking_test.cpp (finite differences as well).
INSTANTIATE_TEST_SUITE_P(Spiking, PopulationSuite,
                         ::testing::Values("kind=lif", "kind=alif n_ref=2 beta=0.3 tau_a=50", "kind=test_smooth_lif",
                                           "kind=test_smooth_alif n_ref=2 beta=0.3 tau_a=50"),
                         [](const auto& info) {
                           std::string s;
                           for (char c : info.param) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

// The module suite on the test module registered in module_program_test.cpp, and on the built-in modules
// (their own tests are beside them: this header may be included in one test file of the binary only).
INSTANTIATE_TEST_SUITE_P(Program, ModuleSuite, ::testing::Values("kind=test_mix", "kind=test_mix decay=1"),
                         [](const auto& info) { return info.index == 0 ? std::string("test_mix") : "test_mix_no_decay"; });

// fast_weights (memory/fast_weights.cpp; its own tests are in fast_weights_test.cpp). This header defines the
// suites' tests, so a test binary includes it once: the module's graph-level checks live here.
//
// Layer norm over the suite's 3 units is ill-conditioned for finite differences wherever the three
// pre-activations nearly agree: its third derivative grows as 1/sigma^3. With tanh and two inner steps the
// stacked model reaches sigma of a few hundredths, and central differences with step 1e-5 then miss BPTT's
// gradient by ~3e-6, an error that falls as the step squared (truncation, not a wrong gradient). That case runs
// here without layer norm; with layer norm the module is checked at 3 units with one inner step and with ReLU
// at two, and with 6 units in the model below and in fast_weights_test.cpp.
INSTANTIATE_TEST_SUITE_P(FastWeights, ModuleSuite,
                         ::testing::Values("kind=fast_weights", "kind=fast_weights activation=tanh",
                                           "kind=fast_weights inner=2",
                                           "kind=fast_weights activation=tanh inner=2 layer_norm=0",
                                           "kind=fast_weights layer_norm=0 inner=0 lambda=1",
                                           "kind=fast_weights activation=tanh layer_norm=0 eta=1.5"),
                         [](const auto& info) {
                           std::string s;
                           for (char c : info.param.substr(5))
                             s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

// A fast-weights layer as Ba et al. use it: its slow recurrence W h_{t-1} is a delay-1 projection from the
// module into its own drive port. 6 units keep layer norm well conditioned for finite differences (above).
TEST(FastWeightsGraph, SelfRecurrentModelGradients) {
  for (const char* attrs : {"", "activation=tanh", "inner=2", "activation=tanh inner=2", "inner=0",
                            "layer_norm=0 inner=2 activation=tanh",
                            "layer_norm=0 lambda=1 eta=1"}) {
    const std::string dot = fmt::format(
        "digraph t {{ x [kind=input size=3]; m [kind=fast_weights size=6 {}]; y [kind=output size=2 "
        "loss=softmax_xent]; x -> m [port=drive]; m -> m [delay=1 port=drive]; m -> y; }}",
        attrs);
    SCOPED_TRACE(dot);
    expect_gradients_ok(parse_model(dot, "t.dot"));
  }
}

// Attention (memory/attention.cpp; tests/attention_test.cpp): dense and top-k reads, storing every step and
// every other step, the buffer wrapping around within the checked sequences, keys narrower than values.
INSTANTIATE_TEST_SUITE_P(Attention, ModuleSuite,
                         ::testing::Values("kind=attention slots=4", "kind=attention slots=3 top=2",
                                           "kind=attention slots=2 every=2 top=1 key_size=2",
                                           "kind=attention slots=8 every=2 key_size=4"),
                         [](const auto& info) {
                           std::string s;
                           for (char c : info.param.substr(5))
                             s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

// Attention read by a recurrent LSTM: the read feeds the output and, at delay 1, the LSTM. Every product of the
// Program against finite differences and every exact algorithm against BPTT, over 6 steps (the buffer partly
// filled) and 14 (wrapped around: 5 slots written every 2 steps), top-k and dense.
TEST(AttentionGraph, RecurrentModelGradients) {
  for (const char* top : {"2", "0"}) {
    const std::string dot = fmt::format(
        "digraph t {{ x [kind=input size=3]; h [kind=lstm size=4]; m [kind=attention size=4 slots=5 every=2 "
        "top={} key_size=3]; y [kind=output size=3 loss=softmax_xent]; x -> h; h -> h [delay=1]; "
        "h -> m [port=key]; h -> m [port=value]; h -> m [port=query]; m -> y; m -> h [delay=1]; h -> y; }}",
        top);
    SCOPED_TRACE(dot);
    expect_gradients_ok(parse_model(dot, "t.dot"));
    CheckOptions wrapped;
    wrapped.steps = 14;
    expect_gradients_ok(parse_model(dot, "t.dot"), wrapped);
  }
}

// The ntm memory module (memory/ntm.cpp; tests/ntm_test.cpp): one and two read heads.
INSTANTIATE_TEST_SUITE_P(Ntm, ModuleSuite, ::testing::Values("kind=ntm slots=4", "kind=ntm slots=5 reads=2"),
                         [](const auto& info) { return info.index == 0 ? std::string("ntm") : "ntm_two_reads"; });

// A Neural Turing Machine as on the copy task: an LSTM controller fed by the input and, at delay 1, by the
// reads; it drives both heads, and the output sees the controller and the reads. Every product of the Program
// against finite differences and every exact algorithm against BPTT.
TEST(NtmGraph, LstmControllerModelGradients) {
  const std::string dot =
      "digraph t { x [kind=input size=3]; h [kind=lstm size=5]; m [kind=ntm size=3 slots=6];"
      " y [kind=output size=2 loss=sigmoid_xent]; x -> h; h -> h [delay=1]; m -> h [delay=1];"
      " h -> m [port=read]; h -> m [port=write]; m -> y; h -> y; }";
  expect_gradients_ok(parse_model(dot, "t.dot"));
}

}  // namespace credo::testing
