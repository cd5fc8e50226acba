#include "framework/options.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "framework/error.h"

namespace credo {

namespace {

bool parse_number(const std::string& s, double& out) {
  const char* b = s.data();
  const char* e = b + s.size();
  auto [p, ec] = std::from_chars(b, e, out);
  return ec == std::errc() && p == e && std::isfinite(out);
}

}  // namespace

Options::Options(std::string owner, const std::vector<OptionSpec>& specs,
                 const std::map<std::string, std::string>& given)
    : owner_(std::move(owner)) {
  for (const auto& kv : given) {
    const std::string& k = kv.first;
    auto it = std::find_if(specs.begin(), specs.end(), [&](const OptionSpec& s) { return s.name == k; });
    if (it == specs.end()) {
      std::string known;
      for (const auto& s : specs) known += (known.empty() ? "" : ", ") + s.name;
      fail("{}: unknown option '{}' (known: {})", owner_, k, known.empty() ? "none" : known);
    }
  }
  for (const auto& s : specs) {
    auto it = given.find(s.name);
    const std::string v = it == given.end() ? s.default_value : it->second;
    if (!s.choices.empty()) {
      if (std::find(s.choices.begin(), s.choices.end(), v) == s.choices.end())
        fail("{}: option '{}' is '{}', must be one of: {}", owner_, s.name, v, fmt::join(s.choices, ", "));
    } else {
      double x = 0;
      if (!parse_number(v, x)) fail("{}: option '{}' is '{}', not a number", owner_, s.name, v);
      if (s.integer && (x != std::floor(x) || std::abs(x) > 2e9))
        fail("{}: option '{}' is '{}', must be an integer", owner_, s.name, v);
      if (x < s.min || x > s.max)
        fail("{}: option '{}' is {}, must be in [{}, {}]", owner_, s.name, v, s.min, s.max);
    }
    values_[s.name] = v;
  }
}

const std::string& Options::raw(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw std::logic_error(fmt::format("{}: option '{}' was never declared", owner_, name));
  return it->second;
}

double Options::number(const std::string& name) const {
  double x = 0;
  parse_number(raw(name), x);
  return x;
}

int Options::integer(const std::string& name) const { return static_cast<int>(number(name)); }

const std::string& Options::word(const std::string& name) const { return raw(name); }

std::map<std::string, std::string> parse_key_values(const std::vector<std::string>& items, const std::string& what) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) fail("{}: '{}' is not of the form key=value", what, item);
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

std::vector<std::string> split_list(const std::string& text, const std::string& separators) {
  std::vector<std::string> out;
  size_t a = 0;
  while (a <= text.size()) {
    size_t c = text.find_first_of(separators, a);
    if (c == std::string::npos) c = text.size();
    if (c > a) out.push_back(text.substr(a, c - a));
    a = c + 1;
  }
  return out;
}

std::string describe(const std::vector<OptionSpec>& specs) {
  std::string out;
  for (const auto& s : specs) out += fmt::format("{}{}={}", out.empty() ? "" : " ", s.name, s.default_value);
  return out;
}

}  // namespace credo
