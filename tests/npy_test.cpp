// numpy's .npy/.npz formats (framework/npy.h), parameters per block (framework/params.h) and the recorder
// (framework/record.h): read back in C++ and by numpy itself.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "framework/error.h"
#include "framework/evaluate.h"
#include "framework/graph.h"
#include "framework/npy.h"
#include "framework/params.h"
#include "framework/program.h"
#include "framework/record.h"
#include "framework/task.h"
#include "tests/workbench_util.h"

namespace credo::workbench_test {
namespace {

using Npy = ScratchTest;

TEST(NpyFormat, HeaderIsNumpysAndAligned) {
  const double v[6] = {1, 2, 3, 4, 5, 6};
  const std::string bytes = npy::encode(npy::make_array(v, {2, 3}));
  ASSERT_GT(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_EQ(bytes[10 + header_len - 1], '\n');
  EXPECT_NE(bytes.find("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"), std::string::npos);
  EXPECT_EQ(bytes.size(), 10 + header_len + 48);
  // A 1-tuple keeps its comma; a scalar has an empty tuple.
  EXPECT_NE(npy::encode(npy::make_array(v, {6})).find("'shape': (6,)"), std::string::npos);
  EXPECT_NE(npy::encode(npy::make_array(v, {})).find("'shape': ()"), std::string::npos);
}

TEST(NpyFormat, RoundTripsEveryDtypeAndOrder) {
  const float f[6] = {1.5f, -2, 3, 4, 5, 6e-8f};
  const double d[4] = {1e300, -0.0, 2.5, std::nan("")};
  const std::int64_t i[3] = {-1, 0, 1LL << 60};
  for (const auto& a : {npy::make_array(f, {2, 3}, true), npy::make_array(f, {6}), npy::make_array(d, {2, 2}),
                        npy::make_array(i, {3, 1}), npy::make_array(d, {1}), npy::make_array(d, {0, 4})}) {
    const npy::Array b = npy::decode(npy::encode(a), "test");
    EXPECT_EQ(b.dtype, a.dtype);
    EXPECT_EQ(b.shape, a.shape);
    EXPECT_EQ(b.fortran_order, a.fortran_order);
    EXPECT_EQ(b.data, a.data);
  }
  const auto back = npy::decode(npy::encode(npy::make_array(i, {3})), "t").to_doubles("t");
  EXPECT_EQ(back[0], -1);
  EXPECT_EQ(back[2], static_cast<double>(1LL << 60));
}

TEST(NpyFormat, LargeHeadersUseVersionTwo) {
  std::vector<std::int64_t> shape(25000, 1);
  const double v = 4;
  const std::string bytes = npy::encode(npy::make_array(&v, shape));
  EXPECT_EQ(bytes[6], 2);
  const auto a = npy::decode(bytes, "t");
  EXPECT_EQ(a.shape.size(), 25000u);
  EXPECT_EQ(a.to_doubles("t")[0], 4);
}

TEST(NpyFormat, ReadsHeadersNumpyMightWrite) {
  // Keys in any order, double quotes, Python 2 longs, big-endian data, extra spaces.
  auto file = [](const std::string& dict, const std::string& data) {
    std::string h = dict + std::string(64, ' ') + "\n";
    std::string out = std::string("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(h.size() & 0xff);
    out += static_cast<char>(h.size() >> 8);
    return out + h + data;
  };
  const std::string be = std::string("\x3f\xf0\0\0\0\0\0\0", 8) + std::string("\xc0\0\0\0\0\0\0\0", 8);
  const auto a = npy::decode(file("{\"shape\": (2L,) ,'fortran_order':False, 'descr':'>f8'}", be), "t");
  EXPECT_EQ(a.shape, std::vector<std::int64_t>{2});
  const auto v = a.to_doubles("t");
  EXPECT_EQ(v[0], 1.0);
  EXPECT_EQ(v[1], -2.0);
  const auto u8 = npy::decode(file("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", "\x01\x02\xff"), "t");
  EXPECT_EQ(u8.to_doubles("t")[2], 255);
}

void expect_input_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one naming '" << needle << "'";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(NpyFormat, RefusesMalformedFilesNamingThem) {
  const double v[4] = {1, 2, 3, 4};
  const std::string good = npy::encode(npy::make_array(v, {4}));
  expect_input_error([&] { npy::decode("hello world, not numpy", "a.npy"); }, "a.npy: not a .npy file");
  expect_input_error([&] { npy::decode(good.substr(0, 40), "a.npy"); }, "truncated .npy header");
  expect_input_error([&] { npy::decode(good.substr(0, good.size() - 3), "a.npy"); }, "truncated .npy data");
  expect_input_error([&] { npy::decode(good + "xx", "a.npy"); }, "after the .npy data");
  std::string bad_dtype = good;
  bad_dtype.replace(bad_dtype.find("<f8"), 3, "<c8");
  expect_input_error([&] { npy::decode(bad_dtype, "a.npy"); }, "dtype '<c8'");
  std::string structured = good;
  structured.replace(structured.find("'<f8'"), 5, "[('a'");
  expect_input_error([&] { npy::decode(structured, "a.npy"); }, "structured");
  std::string version = good;
  version[6] = 9;
  expect_input_error([&] { npy::decode(version, "a.npy"); }, "version 9");
}

TEST(NpyFormat, NpzRoundTripAndCorruption) {
  const float w[6] = {1, 2, 3, 4, 5, 6};
  const double b[2] = {-1, 1};
  const npy::Named arrays = {{"W[h -> y]", npy::make_array(w, {2, 3}, true)}, {"b[y]", npy::make_array(b, {2})}};
  const std::string zip = npy::encode_npz(arrays);
  const auto back = npy::decode_npz(zip, "p.npz");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].first, "W[h -> y]");
  EXPECT_EQ(back[0].second.data, arrays[0].second.data);
  EXPECT_TRUE(back[0].second.fortran_order);
  EXPECT_EQ(back[1].first, "b[y]");
  // One flipped byte of array data: the CRC catches it.
  std::string corrupt = zip;
  corrupt[zip.find("\x93NUMPY") + 130] ^= 0x40;
  expect_input_error([&] { npy::decode_npz(corrupt, "p.npz"); }, "CRC-32");
  expect_input_error([&] { npy::decode_npz(zip.substr(0, zip.size() / 2), "p.npz"); }, "p.npz");
  expect_input_error([&] { npy::decode_npz("PK not really", "p.npz"); }, "not an .npz file");
  // A compressed member (method 8): np.savez_compressed.
  std::string compressed = zip;
  compressed[8] = 8;  // local header's method
  compressed[zip.find("PK\x01\x02") + 10] = 8;
  expect_input_error([&] { npy::decode_npz(compressed, "p.npz"); }, "np.savez_compressed");
  EXPECT_EQ(npy::crc32("123456789"), 0xCBF43926u);  // the CRC-32 check value
}

TEST_F(Npy, StreamWriterWritesInPlaceOnlyWhenComplete) {
  {
    npy::StreamWriter w(path("s.npy"), "<f4", {2, 3});
    const float row[3] = {1, 2, 3};
    w.write(row, 3);
    // Abandoned half-way: nothing appears, no temporary file stays.
  }
  EXPECT_TRUE(fs::is_empty(dir_));
  npy::StreamWriter w(path("s.npy"), "<f4", {2, 3});
  const float rows[6] = {1, 2, 3, 4, 5, 6};
  w.write(rows, 3);
  w.write(rows + 3, 3);
  w.commit();
  const auto a = npy::read_npy(path("s.npy"));
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a.to_doubles("s")[5], 6);
}

TEST_F(Npy, NumpyReadsWhatCredoWritesAndCredoReadsNumpy) {
  const double m[6] = {1, 2, 3, 4, 5, 6};  // column-major 2 x 3: [[1, 3, 5], [2, 4, 6]]
  const float v[3] = {0.5f, -1, 2};
  npy::write_npy(path("m.npy"), npy::make_array(m, {2, 3}, true));
  npy::write_npz(path("p.npz"), {{"W[h -> y]", npy::make_array(m, {2, 3}, true)}, {"b[y]", npy::make_array(v, {3})}});
  numpy(dir_, R"(
m = np.load('m.npy')
assert m.dtype == np.float64 and m.shape == (2, 3), m
assert (m == np.array([[1, 3, 5], [2, 4, 6]])).all(), m
p = np.load('p.npz')
assert sorted(p.keys()) == ['W[h -> y]', 'b[y]'], list(p.keys())
assert (p['W[h -> y]'] == m).all() and p['b[y]'].dtype == np.float32 and list(p['b[y]']) == [0.5, -1, 2]
np.save('c.npy', np.arange(6, dtype=np.int32).reshape(2, 3))
np.save('f.npy', np.asfortranarray(np.arange(6.0).reshape(2, 3)))
np.save('be.npy', np.array([1.0, -2.0], dtype='>f8'))
np.savez('n.npz', a=np.ones((2, 2), dtype=np.float32), b=np.array([True, False]))
np.savez_compressed('z.npz', a=np.ones(3))
)");
  auto c = npy::read_npy(path("c.npy"));
  EXPECT_EQ(c.dtype, "<i4");
  EXPECT_FALSE(c.fortran_order);
  EXPECT_EQ(c.to_doubles("c")[4], 4);
  auto f = npy::read_npy(path("f.npy"));
  EXPECT_TRUE(f.fortran_order);
  EXPECT_EQ(f.to_doubles("f")[1], 3);  // column-major: (1, 0) = 3
  EXPECT_EQ(npy::read_npy(path("be.npy")).to_doubles("be")[1], -2);
  const auto n = npy::read_npz(path("n.npz"));  // numpy writes ZIP64 local headers
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].first, "a");
  EXPECT_EQ(n[1].second.to_doubles("b")[0], 1);
  expect_input_error([&] { npy::read_npz(path("z.npz")); }, "np.savez_compressed");
  expect_input_error([&] { npy::read_npy(path("missing.npy")); }, "missing.npy: cannot open");
}

const char* kModel = R"(digraph m { x [kind=input size=4]; h [kind=lstm size=3]; g [kind=tanh size=2];
  y [kind=output size=2 loss=softmax_xent]; x -> h; h -> h [delay=1]; h -> g; g -> g [delay=2]; g -> y; h -> y; })";

TEST(Params, ExportImportRoundTrip) {
  const ModelGraph g = parse_model(kModel, "m.dot");
  Program<float> a(g), b(g);
  std::mt19937_64 r1(1), r2(2);
  a.init_params(r1);
  b.init_params(r2);
  const auto arrays = params_to_arrays(a);
  ASSERT_EQ(arrays.size(), a.param_blocks().size());
  for (size_t k = 0; k < arrays.size(); ++k) {
    const auto& blk = a.param_blocks()[k];
    EXPECT_EQ(arrays[k].first, blk.name);
    EXPECT_EQ(arrays[k].second.dtype, "<f4");
    const std::vector<std::int64_t> shape = blk.is_bias ? std::vector<std::int64_t>{blk.size}
                                                        : std::vector<std::int64_t>{blk.rows, blk.cols};
    EXPECT_EQ(arrays[k].second.shape, shape);
  }
  const auto set = params_from_arrays(b, npy::decode_npz(npy::encode_npz(arrays), "p.npz"), "p.npz");
  EXPECT_EQ(set.size(), arrays.size());
  EXPECT_EQ(a.params(), b.params());  // bit for bit
  // Into a double Program: the same numbers.
  Program<double> d(g);
  params_from_arrays(d, arrays, "p.npz");
  EXPECT_EQ(d.params().cast<float>(), a.params());
}

TEST(Params, ImportsCOrderAndSingleBlocksAndChecksThem) {
  const ModelGraph g = parse_model(kModel, "m.dot");
  Program<double> p(g);
  std::mt19937_64 rng(1);
  p.init_params(rng);
  const Eigen::VectorXd before = p.params();
  const ParamBlock* w = nullptr;
  for (const auto& b : p.param_blocks())
    if (b.name == "W[h -> y]") w = &b;
  ASSERT_NE(w, nullptr);
  // A C-order (rows, cols) array, as np.save writes by default: W[i, j] = 10 i + j.
  std::vector<std::int64_t> c(static_cast<size_t>(w->rows * w->cols));
  for (int i = 0; i < w->rows; ++i)
    for (int j = 0; j < w->cols; ++j) c[static_cast<size_t>(i * w->cols + j)] = 10 * i + j;
  const auto set = params_from_arrays(p, {{"W[h -> y]", npy::make_array(c.data(), {w->rows, w->cols})}}, "w.npz");
  EXPECT_EQ(set, std::vector<std::string>{"W[h -> y]"});
  const Program<double>::ProjInfo* proj = nullptr;
  for (const auto& e : p.projections())
    if (e.weight_offset == w->offset) proj = &e;
  ASSERT_NE(proj, nullptr);
  const auto W = p.weight(*proj);
  ASSERT_EQ(W.rows(), w->rows);
  for (int i = 0; i < w->rows; ++i)
    for (int j = 0; j < w->cols; ++j) EXPECT_EQ(W(i, j), 10 * i + j);
  // Every other block kept its value.
  for (int k = 0; k < p.param_count(); ++k)
    if (k < w->offset || k >= w->offset + w->size) {
      EXPECT_EQ(p.params()[k], before[k]);
    }

  const Eigen::VectorXd now = p.params();
  const double three[3] = {1, 2, 3};
  expect_input_error([&] { params_from_arrays(p, {{"W[y -> h]", npy::make_array(three, {3})}}, "w.npz"); },
                     "'W[y -> h]' is not a parameter block");
  expect_input_error([&] { params_from_arrays(p, {{"W[h -> y]", npy::make_array(three, {3})}}, "w.npz"); },
                     "shape (3,), but block 'W[h -> y]' is a (2, 3) matrix");
  expect_input_error([&] { params_from_arrays(p, {{"b[g]", npy::make_array(three, {3})}}, "w.npz"); },
                     "block 'b[g]' is a vector of 2");
  const double inf[2] = {1, INFINITY};
  expect_input_error([&] { params_from_arrays(p, {{"b[g]", npy::make_array(inf, {2})}}, "w.npz"); }, "finite");
  EXPECT_EQ(p.params(), now);  // a refused import changes nothing
}

// The small model with random weights and its evaluation on short delayed-recall sequences.
struct RecordedModel {
  TrainConfig c = config();
  std::unique_ptr<Task> task = make_task(c.task, c.task_options, c.seed);
  Program<double> prog{parse_model(kModel, "m.dot")};
  Evaluator<double> ev{initialised(prog), c, *task};

  static TrainConfig config() {
    TrainConfig c;
    c.task = "delayed_recall";
    c.task_options = {{"values", "2"}, {"items", "2"}, {"delay", "3"}};
    c.eval_batch = 5;
    return c;
  }
  static Program<double>& initialised(Program<double>& p) {
    std::mt19937_64 rng(4);
    p.init_params(rng);
    return p;
  }
};

// The recorder on a small model: shapes, the state against the Program run by hand, the loss against the
// evaluation's, BPTT's recorded gradient norm against BPTT's gradient, and the size guard.
TEST_F(Npy, RecorderRecordsWhatTheNetworkDid) {
  RecordedModel model;
  const TrainConfig& c = model.c;
  auto& task = model.task;
  Program<double>& prog = model.prog;
  Evaluator<double>& ev = model.ev;
  RecordOptions o;
  o.what = parse_record_items("all");
  o.sequences = 3;
  Recorder<double> rec(prog, o, ev.steps(), ev.batch(), ev.warmup(), path("rec"), {{"test", 1}});
  const Evaluation e = ev.run(&rec);
  const auto index = nlohmann::json::parse(slurp(dir_ / "rec/index.json"));
  EXPECT_EQ(index["format"], "credo-record");
  EXPECT_EQ(index["about"]["test"], 1);
  const int T = ev.steps(), B = 3;
  auto load = [&](const std::string& name) {
    const auto a = npy::read_npy(path("rec/" + index["arrays"][name]["file"].get<std::string>()));
    EXPECT_EQ(nlohmann::json(a.shape), index["arrays"][name]["shape"]) << name;
    return a;
  };
  const auto h = load("state.h");
  EXPECT_EQ(h.shape, (std::vector<std::int64_t>{T, B, 6}));  // LSTM: 2 slots of 3
  EXPECT_EQ(index["arrays"]["state.h"]["out_slot"], 1);
  const auto gs = load("state.g");
  EXPECT_EQ(gs.shape, (std::vector<std::int64_t>{T, B, 2}));
  // The Program by hand on the same held-out sequences (ev's task draws them once from the evaluation seed).
  auto eval_task = make_eval_task(c, *task);
  const Episode ep = eval_task->sample(c.eval_batch, 0);
  ASSERT_EQ(ep.steps, T);
  Mat<double> s = prog.zero_state(ep.batch);
  Frame<double> f = prog.make_frame(ep.batch);
  const auto hv = h.to_doubles("h");
  double worst = 0;
  for (int t = 0; t < T; ++t) {
    prog.forward(s, ep.x.middleCols(static_cast<Eigen::Index>(t) * ep.batch, ep.batch), f);
    s = f.s;
    const auto& info = prog.populations()[prog.graph().find("h")];
    for (int b = 0; b < B; ++b)
      for (int r = 0; r < 6; ++r)
        worst = std::max(worst, std::abs(hv[static_cast<size_t>((t * B + b) * 6 + r)] - f.z(info.z_offset + r, b)));
  }
  EXPECT_EQ(worst, 0);
  const auto loss = load("loss").to_doubles("loss"), mask = load("mask").to_doubles("mask");
  EXPECT_EQ(load("outputs").shape, (std::vector<std::int64_t>{T, B, 2}));
  EXPECT_EQ(load("inputs").shape, (std::vector<std::int64_t>{T, B, 4}));
  double lsum = 0, msum = 0;
  for (size_t k = 0; k < loss.size(); ++k) lsum += loss[k], msum += mask[k];
  EXPECT_GT(msum, 0);
  EXPECT_GT(lsum, 0);
  // BPTT's gradient on the recorded sequences: all of it at the end of the episode.
  const auto gn = load("grad_norm").to_doubles("g"), gend = load("grad_norm_end").to_doubles("ge");
  for (double v : gn) EXPECT_EQ(v, 0);
  auto algo = make_algorithm<double>("bptt", {}, prog);
  algo->reset(B);
  Eigen::VectorXd grad = Eigen::VectorXd::Zero(prog.param_count());
  for (int t = 0; t < T; ++t) {
    const auto col = static_cast<Eigen::Index>(t) * ep.batch;
    algo->step(ep.x.middleCols(col, B), ep.target.middleCols(col, B), ep.mask.middleCols(col, B), grad);
  }
  algo->end_chunk(true, grad);
  for (size_t k = 0; k < prog.param_blocks().size(); ++k) {
    const auto& blk = prog.param_blocks()[k];
    EXPECT_NEAR(gend[k], grad.segment(blk.offset, blk.size).norm(), 1e-12) << blk.name;
  }

  // Every sequence recorded: loss / mask is the evaluation's loss.
  o.what = {"loss"};
  o.sequences = 100;
  Recorder<double> all(prog, o, ev.steps(), ev.batch(), ev.warmup(), path("all"));
  const Evaluation e2 = ev.run(&all);
  EXPECT_EQ(e2.loss, e.loss);
  const auto l2 = npy::read_npy(path("all/loss.npy")).to_doubles("l"), m2 = npy::read_npy(path("all/mask.npy")).to_doubles("m");
  double s2 = 0, n2 = 0;
  for (size_t k = 0; k < l2.size(); ++k) s2 += l2[k], n2 += m2[k];
  EXPECT_NEAR(s2 / n2, e.loss, 1e-12);

  // The size guard refuses before anything is written.
  o.what = {"states"};
  o.limit_mb = 1e-4;
  expect_input_error([&] { Recorder<double>(prog, o, ev.steps(), ev.batch(), ev.warmup(), path("big")); },
                     "--record-limit-mb");
  EXPECT_FALSE(fs::exists(dir_ / "big"));
  expect_input_error([&] { parse_record_items("states,weights"); }, "unknown item 'weights'");
}

// `traces`: per step, the RMS and largest magnitude of every quantity the algorithm carries besides s, against
// e-prop run by hand along the same sequences; an algorithm that carries nothing else is refused.
TEST_F(Npy, RecorderSummarisesAnAlgorithmsTraces) {
  RecordedModel model;
  const TrainConfig& c = model.c;
  auto& task = model.task;
  Program<double>& prog = model.prog;
  Evaluator<double>& ev = model.ev;
  RecordOptions o;
  o.what = parse_record_items("traces,grad_norm");
  o.algorithm = "eprop:feedback=random";
  o.sequences = 3;
  Recorder<double> rec(prog, o, ev.steps(), ev.batch(), ev.warmup(), path("tr"));
  ev.run(&rec);
  const auto index = nlohmann::json::parse(slurp(dir_ / "tr/index.json"));
  const auto names = index["arrays"]["traces_rms"]["quantities"].get<std::vector<std::string>>();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(index["arrays"]["traces_max_abs"]["quantities"], index["arrays"]["traces_rms"]["quantities"]);
  EXPECT_TRUE(std::find(names.begin(), names.end(), "s") == names.end());
  EXPECT_TRUE(std::find(names.begin(), names.end(), "target.0.eps.0") != names.end());
  const auto rms = npy::read_npy(path("tr/traces_rms.npy")), mx = npy::read_npy(path("tr/traces_max_abs.npy"));
  const int T = ev.steps(), B = 3, n = static_cast<int>(names.size());
  EXPECT_EQ(rms.shape, (std::vector<std::int64_t>{T, n}));
  EXPECT_EQ(mx.shape, (std::vector<std::int64_t>{T, n}));
  const auto r = rms.to_doubles("rms"), m = mx.to_doubles("max");

  // The same by hand.
  struct ByHand : StateVisitor<double> {
    std::map<std::string, std::pair<double, double>> got;
    void matrix(const std::string& k, Mat<double>& a) override { take(k, a.reshaped()); }
    void vector(const std::string& k, Vec<double>& a) override { take(k, a); }
    void take(const std::string& k, const Eigen::VectorXd& a) {
      got[k] = a.size() == 0 ? std::pair{0.0, 0.0}
                             : std::pair{std::sqrt(a.squaredNorm() / static_cast<double>(a.size())), a.cwiseAbs().maxCoeff()};
    }
    void number(const std::string&, std::int64_t&) override {}
    void number(const std::string&, std::uint64_t&) override {}
    void real(const std::string&, double&) override {}
    void generator(const std::string&, std::mt19937_64&) override {}
  } by_hand;
  auto eval_task = make_eval_task(c, *task);
  const Episode ep = eval_task->sample(c.eval_batch, 0);
  auto algo = make_algorithm<double>("eprop", {{"feedback", "random"}}, prog);
  algo->reset(B);
  Eigen::VectorXd grad = Eigen::VectorXd::Zero(prog.param_count());
  double worst = 0, largest = 0;
  for (int t = 0; t < T; ++t) {
    const auto col = static_cast<Eigen::Index>(t) * ep.batch;
    algo->step(ep.x.middleCols(col, B), ep.target.middleCols(col, B), ep.mask.middleCols(col, B), grad);
    algo->visit_traces(by_hand);
    for (int k = 0; k < n; ++k) {
      const auto [want_rms, want_max] = by_hand.got.at(names[static_cast<size_t>(k)]);
      worst = std::max({worst, std::abs(r[static_cast<size_t>(t * n + k)] - want_rms),
                        std::abs(m[static_cast<size_t>(t * n + k)] - want_max)});
      largest = std::max(largest, want_max);
    }
  }
  EXPECT_LE(worst, 1e-12);
  EXPECT_GT(largest, 0);  // the traces moved

  o.algorithm = "bptt";
  o.what = {"traces"};
  expect_input_error([&] { Recorder<double>(prog, o, ev.steps(), ev.batch(), ev.warmup(), path("none")); },
                     "--record traces: bptt carries no traces");
  EXPECT_EQ(parse_record_items("all").size(), 4u);  // all but traces
}

}  // namespace
}  // namespace credo::workbench_test
