// The workbench through the credo program: a run's trained parameters evaluated again and recorded, parameters
// exported to numpy and set from it, and bad input refused with exit status 2.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/workbench_util.h"

namespace credo::workbench_test {
namespace {

using Workbench = ScratchTest;

const std::string kSource = CREDO_SOURCE_DIR;

nlohmann::json json_file(const fs::path& p) { return nlohmann::json::parse(slurp(p)); }

// A short LSTM run on delayed recall (episodic) and an RTRL run on add (streaming).
std::string train_recall(const std::string& out, const std::string& extra = "") {
  return "train --model " + kSource + "/models/lstm.dot --task delayed_recall --task-opt delay=3 --algo bptt " +
         "--steps 30 --batch 8 --lr 0.01 --eval-batch 40 --seed 3 --out " + out + " " + extra;
}

TEST_F(Workbench, EvalOfARunGivesItsFinalEvaluationExactly) {
  const std::string run = path("run");
  auto o = credo(train_recall(run));
  ASSERT_EQ(o.status, 0) << o.output;
  ASSERT_TRUE(fs::exists(dir_ / "run/params.npz"));
  o = credo("eval --run " + run + " --out " + path("ev"));
  ASSERT_EQ(o.status, 0) << o.output;
  const auto summary = json_file(dir_ / "run/summary.json"), ev = json_file(dir_ / "ev/eval.json");
  EXPECT_EQ(ev["eval_loss"].get<double>(), summary["eval_loss"].get<double>());
  EXPECT_EQ(ev["eval_accuracy"].get<double>(), summary["eval_accuracy"].get<double>());
  EXPECT_EQ(ev["chance_loss"].get<double>(), summary["chance_loss"].get<double>());
  EXPECT_EQ(ev["task_options"]["delay"], "3");

  // Another variant of the task: a longer delay, other held-out data.
  o = credo("eval --run " + run + " --task-opt delay=12 --out " + path("ev12"));
  ASSERT_EQ(o.status, 0) << o.output;
  const auto ev12 = json_file(dir_ / "ev12/eval.json");
  EXPECT_EQ(ev12["task_options"]["delay"], "12");
  EXPECT_NE(ev12["eval_loss"].get<double>(), ev["eval_loss"].get<double>());

  // A streaming task: the same 8 held-out streams after the same warm-up.
  const std::string add = path("add");
  o = credo("train --model " + kSource + "/models/elman.dot --task add --algo rtrl --steps 300 --batch 1 "
            "--optimizer sgd --lr 0.01 --eval-steps 300 --out " + add);
  ASSERT_EQ(o.status, 0) << o.output;
  o = credo("eval --run " + add);
  ASSERT_EQ(o.status, 0) << o.output;
  char expected[64];
  std::snprintf(expected, sizeof expected, "eval loss %.4f", json_file(dir_ / "add/summary.json")["eval_loss"].get<double>());
  EXPECT_NE(o.output.find(expected), std::string::npos) << o.output;
}

TEST_F(Workbench, RecordingsLoadInNumpyWithTheDocumentedShapes) {
  const std::string run = path("run");
  auto o = credo(train_recall(run));
  ASSERT_EQ(o.status, 0) << o.output;
  o = credo("eval --run " + run + " --record all --record-sequences 40 --out " + path("ev"));
  ASSERT_EQ(o.status, 0) << o.output;
  numpy(dir_, R"(
idx = json.load(open('ev/record/index.json'))
ev = json.load(open('ev/eval.json'))
assert idx['format'] == 'credo-record' and idx['version'] == 1
T, B = idx['steps'], idx['sequences']
assert B == 40, B
a = {k: np.load('ev/record/' + v['file']) for k, v in idx['arrays'].items()}
for k, v in idx['arrays'].items():
    assert list(a[k].shape) == v['shape'], (k, a[k].shape, v['shape'])
    assert a[k].dtype == np.dtype(v['dtype']), (k, a[k].dtype)
assert a['state.h'].shape == (T, B, 64), a['state.h'].shape        # lstm.dot: 32 units, slots c and h
assert a['outputs'].shape == (T, B, 4) and a['inputs'].shape == (T, B, 6)
assert abs(a['loss'].sum() / a['mask'].sum() - ev['eval_loss']) < 1e-5, (a['loss'].sum() / a['mask'].sum(), ev['eval_loss'])
# Accuracy from the recorded outputs and targets.
m = a['mask'] > 0
acc = (a['outputs'].argmax(-1) == a['targets'].argmax(-1))[m].mean()
assert abs(acc - ev['eval_accuracy']) < 1e-9, (acc, ev['eval_accuracy'])
# The LSTM's h = o * tanh(c) lies in (-1, 1); BPTT emits its gradient at the end.
h = a['state.h'][..., 32:]
assert np.abs(h).max() < 1
assert (a['grad_norm'] == 0).all() and (a['grad_norm_end'] > 0).any()
assert len(idx['arrays']['grad_norm']['blocks']) == a['grad_norm'].shape[1]
print('ok')
)");

  // An online algorithm emits a gradient at every scored step.
  o = credo("eval --run " + run + " --record grad_norm --record-algo rtrl --record-sequences 2 --out " + path("ev2"));
  ASSERT_EQ(o.status, 0) << o.output;
  numpy(dir_, R"(
g = np.load('ev2/record/grad_norm.npy'); m = np.load('ev2/record/mask.npy')
assert ((g.sum(1) > 0) == (m.sum(1) > 0)).all()
)");
}

TEST_F(Workbench, ParametersGoToNumpyAndBack) {
  const std::string model = kSource + "/models/lstm.dot";
  auto o = credo("params " + model + " --seed 5 --export " + path("init.npz"));
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("W[h -> h [delay=1]]"), std::string::npos) << o.output;
  // Silence the readout in numpy: every prediction is then uniform, so the loss is ln K exactly.
  numpy(dir_, R"(
p = dict(np.load('init.npz'))
assert p['W[h -> y]'].shape == (4, 32) and p['W[h -> y]'].dtype == np.float32, p['W[h -> y]'].shape
assert p['b[h]'].shape == (128,)
p['W[h -> y]'] = np.zeros((4, 32))
p['b[y]'] = np.zeros(4)
np.savez('silent.npz', **p)
)");
  o = credo("eval --model " + model + " --params " + path("silent.npz") + " --task delayed_recall --out " + path("ev"));
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_NEAR(json_file(dir_ / "ev/eval.json")["eval_loss"].get<double>(), std::log(4.0), 1e-5);
  // Loading and exporting again gives the same arrays.
  o = credo("params " + model + " --load " + path("silent.npz") + " --export " + path("back.npz"));
  ASSERT_EQ(o.status, 0) << o.output;
  numpy(dir_, R"(
a, b = np.load('silent.npz'), np.load('back.npz')
assert sorted(a.keys()) == sorted(b.keys())
for k in a.keys(): assert (a[k].astype(np.float32) == b[k]).all(), k
)");
}

TEST_F(Workbench, BadInputIsRefusedWithStatusTwo) {
  const std::string run = path("run");
  ASSERT_EQ(credo(train_recall(run)).status, 0);
  auto expect2 = [&](const std::string& args, const std::string& needle) {
    const auto o = credo(args);
    EXPECT_EQ(o.status, 2) << args << "\n" << o.output;
    EXPECT_NE(o.output.find(needle), std::string::npos) << args << "\n" << o.output;
  };
  expect2("eval --run " + path("nothing"), "neither a run folder nor a checkpoint file");
  expect2("eval --model " + kSource + "/models/lstm.dot --task delayed_recall", "--params");
  expect2("eval --run " + run + " --record states", "--record needs --out");
  expect2("eval --run " + run + " --record states,weights --out " + path("x"), "unknown item 'weights'");
  expect2("eval --run " + run + " --record states --record-limit-mb 0.01 --out " + path("big"), "--record-limit-mb");
  EXPECT_FALSE(fs::exists(dir_ / "big/record/index.json"));
  expect2("eval --run " + run + " --task add", "task 'add'");
  // A truncated params.npz names the file.
  const std::string bytes = slurp(dir_ / "run/params.npz");
  write("run/params.npz", bytes.substr(0, bytes.size() - 100));
  expect2("eval --run " + run, "params.npz");
  // Another model's parameters: the block that does not fit is named.
  expect2("eval --model " + kSource + "/models/gru.dot --params " + path("run/params.npz") + " --task delayed_recall",
          "params.npz");
  write("p.npz", bytes);
  expect2("eval --model " + kSource + "/models/gru.dot --params " + path("p.npz") + " --task delayed_recall",
          "shape (128,), but block 'b[h]' is a vector of 96");
  expect2("params " + kSource + "/models/lstm.dot --export " + path("p.txt"), "ending in .npz");
}

// size=auto: one model file for every setting of a task, sized by the task when it is built.
TEST_F(Workbench, AutoSizesComeFromTheTask) {
  const std::string model = write("auto.dot",
                                  "digraph a { x [kind=input size=auto]; h [kind=lstm size=8]; y [kind=output size=auto]; "
                                  "x -> h; h -> h [delay=1]; h -> y; }");
  for (const char* setting : {"--task-opt values=4", "--task-opt values=9"}) {
    const auto o = credo("train --model " + model + " --task delayed_recall " + setting +
                         " --task-opt delay=2 --algo bptt --steps 3 --batch 4 --eval-batch 8 --overwrite --out " +
                         path("run"));
    ASSERT_EQ(o.status, 0) << o.output;
  }
  // The run records the model as written (auto), and everything that reads it back sizes it from the run's task.
  const auto config = nlohmann::json::parse(slurp(dir_ / "run/config.json"));
  EXPECT_NE(config["model_dot"].get<std::string>().find("size=auto"), std::string::npos);
  EXPECT_EQ(credo("eval --run " + path("run")).status, 0);
  EXPECT_NE(credo("params " + path("run")).output.find("W[h -> y]"), std::string::npos);
  auto o = credo("train --config " + path("run/config.json") + " --task-opt values=5 --out " + path("again"));
  EXPECT_EQ(o.status, 0) << o.output;
  o = credo("graph " + model + " --task copy --task-opt symbols=6");
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("inputs 8, outputs 6"), std::string::npos) << o.output;
  EXPECT_EQ(credo("check --model " + model + " --task delayed_recall --steps 3").status, 0);
  auto expect2 = [&](const std::string& args, const std::string& needle) {
    const auto r = credo(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
  };
  expect2("check --model " + model, "has size=auto, which a task decides");
  const std::string hidden = write("hidden.dot",
                                   "digraph a { x [kind=input size=2]; h [kind=tanh size=auto]; y [kind=output size=2]; "
                                   "x -> h; h -> y; }");
  expect2("graph " + hidden, "size=auto is for input and output populations");
  const std::string two = write("two.dot",
                                "digraph a { x [kind=input size=auto]; u [kind=input size=auto]; h [kind=tanh size=3]; "
                                "y [kind=output size=auto]; x -> h; u -> h; h -> y; }");
  expect2("train --model " + two + " --task add --algo rtrl --out " + path("two"), "both have size=auto");
  const std::string fixed = write("fixed.dot",
                                  "digraph a { x [kind=input size=3]; u [kind=input size=auto]; h [kind=tanh size=3]; "
                                  "y [kind=output size=auto]; x -> h; u -> h; h -> y; }");
  expect2("train --model " + fixed + " --task add --algo rtrl --out " + path("fixed"), "already take 3");
  // One fixed input and an auto one: the auto one takes the rest.
  o = credo("graph " + fixed + " --task delayed_recall");
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("inputs 6"), std::string::npos) << o.output;
}

}  // namespace
}  // namespace credo::workbench_test
