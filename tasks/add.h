// The loss levels of the `add` task (Pitis 2016; Marschall, Cho & Savin 2020), quoted by tests and docs.
#pragma once

namespace credo {

// Optimal expected cross-entropy per step of the `add` task for a predictor that knows x[t-t1] (know_t1) and/or
// x[t-t2] (know_t2) and nothing else. It is E[H(E[p | known])]: cross-entropy is linear in the soft target p, so
// averaging over what is unknown turns each group's loss into the binary entropy of its mean target.
// For t1=5, t2=9: neither 0.6616 (the chance level), t1 only 0.5192, both 0.4544. Throws InputError if a lag < 1.
double add_task_loss_with_lags(int t1, int t2, bool know_t1, bool know_t2);

}  // namespace credo
