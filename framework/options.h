// Named, typed, range-checked options for every registered population, algorithm and task.
#pragma once

#include <limits>
#include <map>
#include <string>
#include <vector>

namespace credo {

// One option a registered component accepts: its name, default, meaning and legal values.
struct OptionSpec {
  std::string name;
  std::string default_value;
  std::string help;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool integer = false;
  std::vector<std::string> choices;  // empty: a number (checked against min/max), else one of these words
};

// Resolved options: every declared option has a value (given or default), each checked on construction, so a
// typo or an out-of-range value fails at start with the owner's and the option's name.
class Options {
 public:
  Options() = default;
  // `owner` names what the options belong to in error messages, e.g. "task 'add'" or "node 'h' in model.dot".
  Options(std::string owner, const std::vector<OptionSpec>& specs, const std::map<std::string, std::string>& given);

  double number(const std::string& name) const;
  int integer(const std::string& name) const;
  const std::string& word(const std::string& name) const;
  const std::map<std::string, std::string>& values() const { return values_; }
  const std::string& owner() const { return owner_; }

 private:
  const std::string& raw(const std::string& name) const;
  std::string owner_;
  std::map<std::string, std::string> values_;
};

// Parses "k=v" strings (as given on the command line) into a map; a string without '=' is an error naming `what`.
std::map<std::string, std::string> parse_key_values(const std::vector<std::string>& items, const std::string& what);

// The non-empty pieces of `text` between any of the `separators`: "a,,b" -> {"a", "b"}.
std::vector<std::string> split_list(const std::string& text, const std::string& separators);

// "k1=v1 k2=v2" of the specs' defaults, for listings.
std::string describe(const std::vector<OptionSpec>& specs);

}  // namespace credo
