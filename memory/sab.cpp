// Sparse attentive backtracking (Ke et al. 2018, "Sparse attentive backtracking: temporal credit assignment
// through reminding", NeurIPS): truncated BPTT whose truncation cuts only the recurrent path. A loss reaches a
// stored state through a memory read (an attention module's slots, a fast-weight matrix) however far back it
// was written, and from there flows back locally to the previous truncation point.
#include "recurrent/credit/bptt.h"

namespace credo {

// The backward sweep is BPTT's over the episode (or stream chunk), except that every k_trunc steps the
// cotangent of the carried state is zeroed outside the modules' memory rows (ModuleShape::memory_rows). So
// the gradient is exact along paths that cross each truncation point only through stored memory, and zero
// along every other path: with k_trunc >= T it is BPTT's gradient. Cost: BPTT's, O(T) frames of the whole
// carried state (memory included) and one VJP per step; the cut itself is O(state) every k_trunc steps.
template <class T>
class Sab final : public Truncated<T> {
 public:
  Sab(Program<T>& p, const Options& o) : Truncated<T>(p, 0, 0, true) {
    this->cut_every(o.integer("k_trunc"), p.memory_state_rows());
  }
};

CREDO_REGISTER_ALGORITHM("sab",
                         Sab,
                         "sparse attentive backtracking: BPTT cut every k_trunc steps on the recurrent path but not "
                         "through stored memory (Ke et al. 2018); equals bptt when k_trunc >= T",
                         (std::vector<OptionSpec>{
                             {"k_trunc", "5", "steps between truncation points of the recurrent path", 1, 1e9, true, {}}}),
                         std::vector<std::string>{}, false, false);

}  // namespace credo
