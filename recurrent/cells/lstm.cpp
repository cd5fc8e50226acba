// Long short-term memory (Hochreiter & Schmidhuber 1997, with forget gate, Gers et al. 2000): state slots
// c (cell) and h (output), drive blocks i, f, g, o.
#include "framework/population.h"

namespace credo {

template <class T>
class LstmPopulation final : public Population<T> {
 public:
  LstmPopulation(int n, const Options& o) {
    auto& s = this->shape_;
    s.units = n;
    s.slots = 2;
    s.out_slot = 1;
    s.blocks = 4;
    s.ff_count = s.rec_count = 4;
    s.bias_init = {0.0, o.number("forget_bias"), 0.0, 0.0};
    s.memory = true;
    // jac rows: dc/d{i,f,g}, dh/d{i,f,g,o}, dc/dc_prev, dh/dc_prev.
    s.dz_ddrive = {{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}, {1, 3}};
    s.dz_dzprev = {{0, 0}, {1, 0}};
  }
  void forward(const ConstMatRef<T>& drive, const ConstMatRef<T>& zprev, MatRef<T> z, MatRef<T> jac) const override {
    const auto n = this->shape_.units;
    auto row = [&](int k) { return jac.middleRows(k * n, n).array(); };
    auto c_prev = zprev.topRows(n).array();
    auto c = z.topRows(n).array();
    auto h = z.bottomRows(n).array();
    // Gate values go into the rows that will hold their derivatives.
    auto i = row(0), f = row(1), g = row(2), o = row(6);
    i = T(1) / (T(1) + (-drive.middleRows(0, n).array()).exp());
    f = T(1) / (T(1) + (-drive.middleRows(n, n).array()).exp());
    g = drive.middleRows(2 * n, n).array().tanh();
    o = T(1) / (T(1) + (-drive.middleRows(3 * n, n).array()).exp());
    c = f * c_prev + i * g;
    auto th = row(3);  // scratch: tanh(c)
    th = c.tanh();
    h = o * th;
    // Each row is overwritten only after its last use as a gate value.
    row(8) = o * (T(1) - th.square());       // dh/dc, kept until the end
    row(6) = th * o * (T(1) - o);            // dh/da_o
    row(7) = f;                              // dc/dc_prev
    row(4) = f * (T(1) - f) * c_prev;        // dc/da_f (parked)
    row(5) = i * (T(1) - g.square());        // dc/da_g (parked)
    row(0) = i * (T(1) - i) * g;             // dc/da_i
    row(1) = row(4);
    row(2) = row(5);
    row(3) = row(8) * row(0);                // dh/da_i
    row(4) = row(8) * row(1);                // dh/da_f
    row(5) = row(8) * row(2);                // dh/da_g
    row(8) = row(8) * row(7);                // dh/dc_prev
  }
};

CREDO_REGISTER_POPULATION("lstm", Role::hidden, LstmPopulation, "long short-term memory with forget gate",
                          std::vector<OptionSpec>{{"forget_bias", "1", "initial forget-gate bias", -1e6, 1e6, false, {}}});

}  // namespace credo
