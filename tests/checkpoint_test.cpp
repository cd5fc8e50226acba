// The checkpoint file format (framework/checkpoint.h): round trip, and every kind of damage refused by name.
#include <random>

#include "framework/checkpoint.h"
#include "framework/error.h"
#include "framework/graph.h"
#include "tests/workbench_util.h"

namespace credo::workbench_test {
namespace {

using CheckpointFile = ScratchTest;

Checkpoint sample() {
  Checkpoint c;
  c.meta = {{"updates", 42}, {"config", {{"task", "add"}}}};
  const float theta[5] = {1, -2, 3.5f, 0, 1e-30f};
  c.add_array("theta", npy::make_array(theta, {5}));
  c.add("metrics.csv", "step,eval_loss\n0,0.69\n");
  return c;
}

std::string refusal(std::string_view bytes) {
  try {
    decode_checkpoint(bytes, "run/checkpoint.ckpt");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(CheckpointFormat, RoundTrips) {
  const std::string bytes = encode_checkpoint(sample());
  EXPECT_EQ(bytes.substr(0, 8), "CREDOCKP");
  EXPECT_EQ(bytes.substr(bytes.size() - 8), "KPCODERC");
  const Checkpoint c = decode_checkpoint(bytes, "x");
  EXPECT_EQ(c.meta["updates"], 42);
  EXPECT_EQ(c.meta["format"], "credo-checkpoint");
  EXPECT_EQ(c.meta["version"], 1);
  EXPECT_EQ(c.get("metrics.csv", "x"), "step,eval_loss\n0,0.69\n");
  const auto theta = c.array("theta", "x");
  EXPECT_EQ(theta.dtype, "<f4");
  EXPECT_EQ(theta.to_doubles("x")[2], 3.5);
  EXPECT_EQ(encode_checkpoint(c), bytes);
  EXPECT_NE(refusal(bytes.substr(0, 0) + "x"), "");
  try {
    c.get("adam_m", "run/checkpoint.ckpt");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no 'adam_m' section"), std::string::npos);
  }
}

TEST(CheckpointFormat, EveryDamageIsRefusedByName) {
  const std::string good = encode_checkpoint(sample());
  // Any flipped byte: the magic, the version, a length, the meta, an array, the checksum, the end marker.
  for (size_t at = 0; at < good.size(); ++at) {
    std::string bad = good;
    bad[at] ^= 0x21;
    const std::string why = refusal(bad);
    EXPECT_NE(why.find("run/checkpoint.ckpt: "), std::string::npos) << "byte " << at << " flipped, accepted";
  }
  // Cut short anywhere.
  for (size_t len : {size_t{0}, size_t{5}, size_t{20}, good.size() / 2, good.size() - 9, good.size() - 1})
    EXPECT_NE(refusal(good.substr(0, len)), "") << "cut to " << len;
  EXPECT_NE(refusal(good.substr(0, good.size() - 1)).find("truncated"), std::string::npos);
  std::string flipped = good;
  flipped[100] ^= 1;
  EXPECT_NE(refusal(flipped).find("CRC-32 mismatch"), std::string::npos) << refusal(flipped);
  EXPECT_NE(refusal("PK\x03\x04 a zip file").find("not a credo checkpoint"), std::string::npos);
  // A newer format: say so rather than misread it.
  std::string v2 = good;
  v2[8] = 2;
  EXPECT_NE(refusal(v2).find("format version 2"), std::string::npos) << refusal(v2);
}

TEST_F(CheckpointFile, WrittenAtomicallyAndReadBack) {
  write_checkpoint(path("a.ckpt"), sample());
  write_checkpoint(path("a.ckpt"), sample());  // replaces it
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path().filename().string());
  EXPECT_EQ(files, std::vector<std::string>{"a.ckpt"});
  EXPECT_EQ(read_checkpoint(path("a.ckpt")).meta["updates"], 42);
  EXPECT_THROW(read_checkpoint(path("missing.ckpt")), InputError);
  EXPECT_THROW(read_checkpoint(dir_.string()), InputError);
}

TEST(CheckpointFormat, AnotherModelIsRefusedNamingTheDifference) {
  const char* a = "digraph m { x [kind=input size=2]; h [kind=tanh size=4]; y [kind=output size=2 loss=mse]; "
                  "x -> h; h -> h [delay=1]; h -> y; }";
  const char* b = "digraph m { x [kind=input size=2]; h [kind=tanh size=5]; y [kind=output size=2 loss=mse]; "
                  "x -> h; h -> h [delay=1]; h -> y; }";
  const char* c = "digraph m { x [kind=input size=2]; h [kind=gru size=4]; y [kind=output size=2 loss=mse]; "
                  "x -> h; h -> y; }";
  Program<float> pa(parse_model(a, "a.dot")), pb(parse_model(b, "b.dot")), pc(parse_model(c, "c.dot"));
  Checkpoint ck;
  ck.meta["blocks"] = block_list(pa);
  check_same_blocks(ck, pa, "ck");
  try {
    check_same_blocks(ck, pb, "run/checkpoint.ckpt");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("b[h] (4 parameters)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_same_blocks(ck, pc, "ck"), InputError);
}

}  // namespace
}  // namespace credo::workbench_test
