#include "tests/fuzz/dot_harness.h"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "framework/error.h"
#include "framework/graph.h"
#include "framework/program.h"

namespace credo::fuzz {

namespace {

[[noreturn]] void broken(const std::string& what, const std::string& input) {
  std::fprintf(stderr, "credo fuzz: %s\n--- input (%zu bytes) ---\n%s\n---\n", what.c_str(), input.size(),
               input.c_str());
  std::abort();
}

// Small enough that compiling and stepping any accepted model takes microseconds.
ModelLimits fuzz_limits() {
  ModelLimits l;
  l.populations = 64;
  l.projections = 256;
  l.size = 32;
  l.units = 512;
  l.delay = 16;
  l.delay_units = 1024;
  l.weights = 20000;
  l.module_state = 20000;
  return l;
}

void expect_same(const ModelGraph& a, const ModelGraph& b, const std::string& input) {
  if (a.name != b.name) broken("write_model changed the graph's name: '" + a.name + "' vs '" + b.name + "'", input);
  if (a.populations.size() != b.populations.size() || a.projections.size() != b.projections.size())
    broken("write_model lost or added a population or projection", input);
  for (size_t i = 0; i < a.populations.size(); ++i) {
    const auto &p = a.populations[i], &q = b.populations[i];
    if (p.name != q.name || p.kind != q.kind || p.size != q.size || p.attributes != q.attributes)
      broken("write_model changed population '" + p.name + "'", input);
  }
  for (size_t k = 0; k < a.projections.size(); ++k) {
    const auto &e = a.projections[k], &f = b.projections[k];
    if (e.source != f.source || e.target != f.target || e.delay != f.delay || e.init != f.init || e.gain != f.gain ||
        e.port != f.port || e.copy != f.copy)
      broken("write_model changed projection '" + a.edge_name(e) + "'", input);
  }
  if (a.order != b.order) broken("write_model changed the in-step order", input);
}

}  // namespace

void one_input(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  ModelGraph g;
  try {
    g = parse_model(text, "fuzz.dot", fuzz_limits());
  } catch (const InputError& e) {
    if (std::string(e.what()).empty()) broken("an InputError without a message", text);
    return;
  } catch (const std::exception& e) {
    broken(std::string("parse_model threw something other than an InputError: ") + e.what(), text);
  }
  // Whatever loads, within the limits and with every edge the file states, must read back the same.
  try {
    expect_same(g, parse_model(write_model(g), "fuzz2.dot", fuzz_limits()), text);
  } catch (const std::exception& e) {
    broken(std::string("write_model's text does not load: ") + e.what() + "\n" + write_model(g), text);
  }
  // And compile into a step whose outputs are finite.
  for (auto& p : g.populations)
    if (auto it = p.attributes.find("loss"); it != p.attributes.end() && it->second == "auto") it->second = "mse";
  try {
    Program<double> prog(g);
    std::mt19937_64 rng(1);
    prog.init_params(rng);
    Frame<double> f = prog.make_frame(2);
    const Mat<double> s = prog.zero_state(2), x = Mat<double>::Ones(prog.input_size(), 2);
    prog.forward(s, x, f);
    prog.forward(f.s, x, f);
    Mat<double> y;
    prog.outputs(f, y);
    if (!y.allFinite() || !f.s.allFinite()) broken("a loaded model's step is not finite", text);
  } catch (const InputError&) {
    // The Program may refuse what the loader cannot judge (a kind's own consistency checks).
  } catch (const std::exception& e) {
    broken(std::string("compiling a loaded model threw: ") + e.what(), text);
  }
}

}  // namespace credo::fuzz
