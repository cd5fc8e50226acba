// Uses credo through its installed package, with Eigen matrices made on this side (compiled for a generic
// x86-64) and on credo's (compiled for the build machine) passed both ways and freed on either.
#include <cstdio>
#include <random>

#include "framework/credit.h"
#include "framework/graph.h"
#include "framework/program.h"

int main() {
  using namespace credo;
  ModelGraph g = parse_model(R"(digraph m { x [kind=input size=3]; h [kind=lstm size=37]; y [kind=output size=5];
      x -> h; h -> h [delay=1]; h -> y; })", "consumer.dot");
  resolve_output_losses(g, "softmax_xent", "consumer");
  Program<float> prog(g);
  std::mt19937_64 rng(1);
  prog.init_params(rng);
  const int B = 7;
  Mat<float> s = prog.zero_state(B), x = Mat<float>::Random(3, B), target = Mat<float>::Zero(5, B),
             mask = Mat<float>::Ones(1, B), dy, ds_prev;
  target.row(0).setOnes();
  Frame<float> f = prog.make_frame(B);
  Vec<float> grad = Vec<float>::Zero(prog.param_count());
  for (int t = 0; t < 5; ++t) {
    prog.forward(s, x, f);
    prog.loss(f, target, mask, &dy, 1.0f);
    prog.vjp(f, s, nullptr, dy, ds_prev, grad);
    s = f.s;
  }
  auto bptt = make_algorithm<float>("bptt", {}, prog);
  bptt->reset(B);
  for (int t = 0; t < 5; ++t) bptt->step(x, target, mask, grad);
  bptt->end_chunk(true, grad);
  if (!grad.allFinite() || grad.norm() == 0) {
    std::printf("consumer: the gradient is not right\n");
    return 1;
  }
  std::printf("consumer: %d parameters, gradient norm %g\n", prog.param_count(), static_cast<double>(grad.norm()));
  return 0;
}
