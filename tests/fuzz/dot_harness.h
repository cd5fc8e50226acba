// The DOT loader fuzz harness: one input through loading, writing back and compiling, with the properties
// that must hold for every input.
#pragma once

#include <cstddef>
#include <cstdint>

namespace credo::fuzz {

// Loads `data` as a DOT model under small limits. Bad input must end in an InputError; anything else that is
// thrown, or a loaded model that does not read back the same from write_model(), or whose compiled step is
// not finite, aborts the process (libFuzzer and the replay driver report it).
void one_input(const std::uint8_t* data, std::size_t size);

}  // namespace credo::fuzz
