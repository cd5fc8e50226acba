// Backpropagation through time, whole-sequence (bptt) and truncated (tbptt: every k1 steps, back k2 steps).
#include "recurrent/credit/bptt.h"

namespace credo {

template <class T>
class Bptt final : public Truncated<T> {
 public:
  Bptt(Program<T>& p, const Options&) : Truncated<T>(p, 0, 0, true) {}
};

CREDO_REGISTER_ALGORITHM("bptt", Bptt,
                         "backpropagation through time over each episode (on a stream: over each chunk)",
                         std::vector<OptionSpec>{}, std::vector<std::string>{}, true, false);
CREDO_REGISTER_ALGORITHM("tbptt", Truncated,
                         "truncated BPTT: every k1 steps, back-propagate those steps' losses through the last k2",
                         (std::vector<OptionSpec>{
                             {"k1", "10", "update period in steps", 1, 1e9, true, {}},
                             {"k2", "10", "backward horizon in steps (>= k1 for every loss to be seen)", 1, 1e9, true, {}}}),
                         std::vector<std::string>{}, false, false);

}  // namespace credo
