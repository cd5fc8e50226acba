// Name -> factory registries: every population kind, credit algorithm and task registers itself by name.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "framework/error.h"
#include "framework/options.h"

namespace credo {

// One registered component: what it is called, what it does, the options it takes, and how to make one.
template <class Factory>
struct Entry {
  std::string name;
  std::string help;
  std::vector<OptionSpec> options;
  Factory make;
};

// The registry is a map inside a function (no static-initialization-order trap). `what` ("task", "credit
// algorithm", ...) names the kind of component in errors and listings.
template <class Factory>
class Registry {
 public:
  static Registry& get() {
    static Registry r;
    return r;
  }
  // A name registers once: a second registration under a taken name (a plugin clashing with credo, say) is not
  // added but kept in clashes(), for the program to report.
  bool add(Entry<Factory> e) {
    auto name = e.name;
    if (entries_.count(name)) {
      clashes_.push_back(name);
      return false;
    }
    entries_[name] = std::move(e);
    return true;
  }
  const std::vector<std::string>& clashes() const { return clashes_; }
  const Entry<Factory>& find(const std::string& name, const std::string& what) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      std::string known;
      for (const auto& [k, v] : entries_) known += (known.empty() ? "" : ", ") + k;
      fail("unknown {} '{}' (known: {})", what, name, known);
    }
    return it->second;
  }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const std::map<std::string, Entry<Factory>>& all() const { return entries_; }

 private:
  std::map<std::string, Entry<Factory>> entries_;
  std::vector<std::string> clashes_;
};

}  // namespace credo

#define CREDO_CONCAT_INNER(a, b) a##b
#define CREDO_CONCAT(a, b) CREDO_CONCAT_INNER(a, b)
