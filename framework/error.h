// The error a user's bad input raises: it names the file, node, edge or option at fault and ends the program with status 2.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace credo {

// Thrown for anything the user can fix: a malformed model, an unknown name, an option out of range, an
// unwritable output folder. The CLI prints what() and exits with status 2; nothing half-written is left.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw InputError(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace credo
