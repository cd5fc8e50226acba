// libFuzzer's entry point for the DOT loader harness (built with clang when CREDO_FUZZ is on).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/dot_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  credo::fuzz::one_input(data, size);
  return 0;
}
