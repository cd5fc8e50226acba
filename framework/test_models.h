// Small models that put a population kind or a memory module in every position the Program treats
// differently, for the extension suites (framework/testing.h) and for tests.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>

namespace credo::testing {

// Models that put a population (given by its node attributes, e.g. "kind=lstm forget_bias=0.5") in every
// position the Program treats differently: alone with a recurrent projection; read by a delay-2 projection;
// feeding another carried population at delay 0 (the general immediate-influence path); receiving an
// output's delayed feedback; and twice in one model.
inline std::vector<std::string> population_models(const std::string& attrs) {
  const std::string p = fmt::format("[{} size=3]", attrs);
  return {
      fmt::format("digraph alone {{ x [kind=input size=2]; h {}; y [kind=output size=2 loss=softmax_xent];"
                  " x -> h; h -> h [delay=1]; h -> y; }}", p),
      fmt::format("digraph delayed {{ x [kind=input size=1]; h {}; y [kind=output size=1 loss=mse];"
                  " x -> h; h -> h [delay=2]; h -> y; }}", p),
      fmt::format("digraph stacked {{ x [kind=input size=2]; h {}; g [kind=tanh size=2 alpha=0.5];"
                  " y [kind=output size=1 loss=sigmoid_xent]; x -> h; h -> g; g -> g [delay=1]; g -> y; }}", p),
      fmt::format("digraph feedback {{ x [kind=input size=1]; h {}; y [kind=output size=2 loss=mse];"
                  " x -> h; h -> y; y -> h [delay=1]; }}", p),
      fmt::format("digraph twice {{ x [kind=input size=2]; a {}; b {}; y [kind=output size=2 loss=mse];"
                  " x -> a; a -> b; b -> a [delay=1]; b -> y; a -> y [delay=2]; }}", p, p),
  };
}

// Models that put a memory module (given by its node attributes, size 3) in every position the Program treats
// differently: fed by a recurrent population and feeding it back (delay 1); read by a delay-2 projection;
// feeding a carried population at delay 0; fed by the input directly and by an output's delayed feedback;
// and two of them in series. Every port is connected.
inline std::vector<std::string> module_models(const std::string& attrs, const std::vector<std::string>& ports) {
  const std::string m = fmt::format("[{} size=3]", attrs);
  auto feed = [&](const std::string& src, const std::string& dst, const std::string& extra = "") {
    std::string out;
    for (const auto& p : ports) out += fmt::format(" {} -> {} [port={}{}];", src, dst, p, extra);
    return out;
  };
  std::string from_x_and_y;
  for (size_t k = 0; k < ports.size(); ++k)
    from_x_and_y += k % 2 == 0 ? fmt::format(" x -> m [port={}];", ports[k]) : fmt::format(" y -> m [port={} delay=1];", ports[k]);
  if (ports.size() == 1) from_x_and_y += fmt::format(" y -> m [port={} delay=1];", ports[0]);
  return {
      fmt::format("digraph alone {{ x [kind=input size=2]; h [kind=tanh size=3]; m {}; y [kind=output size=2 "
                  "loss=softmax_xent]; x -> h; h -> h [delay=1];{} m -> y; m -> h [delay=1]; }}",
                  m, feed("h", "m")),
      fmt::format("digraph delayed {{ x [kind=input size=1]; h [kind=tanh size=3 alpha=0.5]; m {}; y [kind=output "
                  "size=1 loss=mse]; x -> h;{} m -> h [delay=2]; m -> y; }}",
                  m, feed("h", "m")),
      fmt::format("digraph stacked {{ x [kind=input size=2]; h [kind=tanh size=3]; m {}; g [kind=tanh size=2 "
                  "alpha=0.5]; y [kind=output size=1 loss=sigmoid_xent]; x -> h; h -> h [delay=1];{} m -> g; "
                  "g -> g [delay=1]; g -> y; }}",
                  m, feed("h", "m")),
      fmt::format("digraph feedback {{ x [kind=input size=2]; m {}; y [kind=output size=2 loss=mse];{} m -> y; }}",
                  m, from_x_and_y),
      fmt::format("digraph twice {{ x [kind=input size=2]; h [kind=lstm size=2]; a {}; b {}; y [kind=output size=2 "
                  "loss=mse]; x -> h; h -> h [delay=1];{}{} b -> y; b -> h [delay=1]; a -> y [delay=2]; }}",
                  m, m, feed("h", "a"), feed("a", "b")),
  };
}

}  // namespace credo::testing
