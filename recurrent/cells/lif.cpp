// The lif and alif population kinds (recurrent/cells/lif.h).
#include "recurrent/cells/lif.h"

namespace credo {

template <class T>
class Lif final : public LifPopulation<T> {
 public:
  Lif(int n, const Options& o) : LifPopulation<T>(n, o, false) {}
};

template <class T>
class Alif final : public LifPopulation<T> {
 public:
  Alif(int n, const Options& o) : LifPopulation<T>(n, o, true) {}
};

CREDO_REGISTER_POPULATION("lif", Role::hidden, Lif,
                          "leaky integrate-and-fire, reset by subtraction, refractoriness; surrogate gradient "
                          "(Bellec et al. 2020); slots v, z (output), r",
                          lif_options(false));
CREDO_REGISTER_POPULATION("alif", Role::hidden, Alif,
                          "LIF with an adaptive threshold v_th + beta a, a = exp(-dt/tau_a) a_prev + z_prev "
                          "(Bellec et al. 2020); slots v, z (output), r, a",
                          lif_options(true));

}  // namespace credo
