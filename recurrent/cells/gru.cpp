// Gated recurrent unit (Cho et al. 2014) with the reset gate applied to the recurrent part of the candidate
// drive, as in cuDNN and PyTorch: c = tanh(a_ff + r * a_rec), h = (1 - u) h_prev + u c.
#include "framework/population.h"

namespace credo {

// Drive blocks: 0 candidate (delay-0 projections), 1 reset, 2 update, 3 candidate (delayed projections).
// Delay-0 projections feed blocks 0..2, delayed ones 1..3, so the reset gate multiplies only the recurrent
// part of the candidate.
template <class T>
class GruPopulation final : public Population<T> {
 public:
  GruPopulation(int n, const Options&) {
    auto& s = this->shape_;
    s.units = n;
    s.blocks = 4;
    s.ff_first = 0, s.ff_count = 3;
    s.rec_first = 1, s.rec_count = 3;
    s.bias_init = {0.0, 0.0, 0.0, PopulationShape::no_bias};
    s.memory = true;
    s.dz_ddrive = {{0, 0}, {0, 1}, {0, 2}, {0, 3}};
    s.dz_dzprev = {{0, 0}};
  }
  void forward(const ConstMatRef<T>& drive, const ConstMatRef<T>& zprev, MatRef<T> z, MatRef<T> jac) const override {
    const auto n = this->shape_.units;
    auto a_ff = drive.middleRows(0, n).array();
    auto a_rec = drive.middleRows(3 * n, n).array();
    // Gates are written straight into jac's rows and then turned into derivatives, so no step allocates.
    auto d_cff = jac.middleRows(0, n).array();
    auto d_r = jac.middleRows(n, n).array();
    auto d_u = jac.middleRows(2 * n, n).array();
    auto d_crec = jac.middleRows(3 * n, n).array();
    auto d_prev = jac.middleRows(4 * n, n).array();
    d_r = T(1) / (T(1) + (-drive.middleRows(n, n).array()).exp());       // r
    d_u = T(1) / (T(1) + (-drive.middleRows(2 * n, n).array()).exp());   // u
    d_cff = (a_ff + d_r * a_rec).tanh();                                   // c
    auto h_prev = zprev.array();
    z = ((T(1) - d_u) * h_prev + d_u * d_cff).matrix();
    d_prev = T(1) - d_u;
    // d h / d a_u = (c - h_prev) u (1 - u); d h / d a_ff = u (1 - c^2); d h / d a_rec = u (1 - c^2) r;
    // d h / d a_r = u (1 - c^2) a_rec r (1 - r).
    d_u = (d_cff - h_prev) * d_u * d_prev;
    d_cff = (T(1) - d_prev) * (T(1) - d_cff.square());
    d_crec = d_cff * d_r;
    d_r = d_crec * a_rec * (T(1) - d_r);
  }
};

CREDO_REGISTER_POPULATION("gru", Role::hidden, GruPopulation,
                          "gated recurrent unit; reset gate on the delayed (recurrent) drive",
                          std::vector<OptionSpec>{});

}  // namespace credo
