#include "framework/graph.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_set>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/graphviz.hpp>
#include <boost/graph/strong_components.hpp>
#include <boost/graph/topological_sort.hpp>
#include <boost/make_shared.hpp>
#include <fmt/format.h>

#include "framework/error.h"
#include "framework/module.h"
#include "framework/population.h"

namespace credo {

namespace {

struct VertexProps {
  std::string node_id;
};
using DotGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, VertexProps>;
using Vertex = boost::graph_traits<DotGraph>::vertex_descriptor;
using Edge = boost::graph_traits<DotGraph>::edge_descriptor;

// Attributes Graphviz uses for drawing: accepted on input so a drawn model loads as it is, and not kept.
const std::set<std::string>& drawing_attributes() {
  static const std::set<std::string> names = {
      "label",     "xlabel",   "color",     "fillcolor", "fontcolor", "fontname",  "fontsize", "shape",
      "style",     "pos",      "width",     "height",    "penwidth",  "tooltip",   "group",    "rank",
      "weight",    "constraint", "arrowhead", "arrowtail", "arrowsize", "dir",     "headport", "tailport",
      "headlabel", "taillabel", "minlen",   "fixedsize", "margin",    "peripheries", "orientation", "URL",
      "href",      "id",       "class",     "comment",   "layer",     "sides",     "skew",     "distortion",
      "labelfontsize", "labelfontcolor", "labelangle", "labeldistance", "decorate", "samehead", "sametail"};
  return names;
}

// A number as DOT gives it (scientific notation included): finite, else an InputError naming the attribute.
double parse_number(const std::string& v, const std::string& where, const std::string& attr, const char* expect) {
  double x = 0;
  const char* b = v.data();
  const char* e = b + v.size();
  auto [p, ec] = std::from_chars(b, e, x);
  if (ec != std::errc() || p != e || !std::isfinite(x)) fail("{}: {} is '{}', must be {}", where, attr, v, expect);
  return x;
}

// An integer >= min; 1e3 and 1000 both read as 1000. Upper bounds are limits (over_limit).
long long parse_int(const std::string& v, const std::string& where, const std::string& attr, long long min) {
  const std::string expect = fmt::format("an integer >= {}", min);
  const double x = parse_number(v, where, attr, expect.c_str());
  if (x != std::floor(x) || x < static_cast<double>(min)) fail("{}: {} is {}, must be {}", where, attr, v, expect);
  return x > 1e15 ? std::numeric_limits<long long>::max() : static_cast<long long>(x);
}

// Above a limit: the message says which and how to raise it.
[[noreturn]] void over_limit(const std::string& where, const std::string& what, const std::string& value,
                             const char* limit, long long max) {
  fail("{}: {} is {}, above the limit of {} (a model may ask for more with --limit {}=N)", where, what, value, max,
       limit);
}
[[noreturn]] void over_limit(const std::string& where, const std::string& what, long long value, const char* limit,
                             long long max) {
  over_limit(where, what, std::to_string(value), limit, max);
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '\\';  // backslashes are left alone: "\n" is Graphviz's line break
    out += c;
  }
  return out + "\"";
}

// An id as DOT reads it back: bare when it is a plain identifier that is no keyword, else quoted.
std::string dot_id(const std::string& id) {
  bool plain = !id.empty() && !std::isdigit(static_cast<unsigned char>(id[0]));
  for (char c : id) plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  std::string lower;
  for (char c : id) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* keyword : {"node", "edge", "graph", "digraph", "subgraph", "strict"})
    plain = plain && lower != keyword;
  return plain ? id : quote(id);
}

// What Boost's reader does not keep, from one linear pass over the DOT text.
struct DotScan {
  std::vector<std::string> order;  // node ids in the order the file first mentions them
  std::string name;                // the graph's name, if it has one
  bool strict = false;             // `strict digraph`
  std::string text;                // what Boost reads: `strict` blanked, numbers like 1e-3 quoted
};

// An unquoted number in scientific notation starting at text[i] (-1.5e-3, 2E4), and only that: its length,
// or 0. DOT's own numerals have no exponent, so Boost (like Graphviz) would split 1e3 into 1 and e3.
size_t exponent_numeral(const std::string& text, size_t i) {
  const size_t n = text.size();
  auto digits = [&](size_t& j) {
    const size_t start = j;
    while (j < n && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    return j > start;
  };
  size_t j = i;
  if (j < n && text[j] == '-') ++j;
  const bool whole = digits(j);
  bool fraction = false;
  if (j < n && text[j] == '.') ++j, fraction = digits(j);
  if (!whole && !fraction) return 0;
  if (j >= n || (text[j] != 'e' && text[j] != 'E')) return 0;
  ++j;
  if (j < n && (text[j] == '+' || text[j] == '-')) ++j;
  if (!digits(j)) return 0;
  if (j < n && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_' || text[j] == '.' ||
                (text[j] & 0x80)))
    return 0;
  return j - i;
}

// Boost's reader creates vertices in sorted-name order, but inputs and outputs take the task's vectors in file
// order, so the order has to come from the text; so does `strict`, which Boost honours by dropping self-loops
// (turning an RNN feed-forward), and the graph's name.
DotScan scan_dot(const std::string& text) {
  DotScan r;
  std::unordered_set<std::string> seen;
  size_t i = 0;
  const size_t n = text.size();
  size_t copied = 0;  // text[0, copied) is already in r.text
  r.text.reserve(n + 16);
  int brackets = 0;
  bool skip_next_id = false;   // the graph's own name, or a value after '='
  bool after_equals = false;   // the next token is an attribute's value
  bool first_token = true;
  bool want_name = false;
  std::string pending;         // an id that may turn out to be an attribute name (id = value)
  bool have_pending = false;
  auto flush = [&] {
    if (have_pending && seen.insert(pending).second) r.order.push_back(pending);
    have_pending = false;
  };
  auto is_id_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || (c & 0x80) || c == '-';
  };
  while (i < n) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
    if (c == '/' && i + 1 < n && text[i + 1] == '/') { while (i < n && text[i] != '\n') ++i; continue; }
    if (c == '#' && (i == 0 || text[i - 1] == '\n')) { while (i < n && text[i] != '\n') ++i; continue; }
    if (c == '/' && i + 1 < n && text[i + 1] == '*') {
      const size_t end = text.find("*/", i + 2);
      i = end == std::string::npos ? n : end + 2;
      continue;
    }
    if (after_equals) {
      after_equals = false;
      if (const size_t len = exponent_numeral(text, i)) {
        r.text.append(text, copied, i - copied).append("\"").append(text, i, len).append("\"");
        i += len;
        copied = i;
        if (brackets == 0) skip_next_id = false;
        continue;
      }
    }
    std::string token;
    bool quoted = false;
    const size_t token_start = i;
    if (c == '"') {
      quoted = true;
      ++i;
      while (i < n && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < n && text[i + 1] == '"') ++i;
        token += text[i++];
      }
      ++i;
    } else if (c == '<') {  // an HTML string: never a node id here
      int depth = 0;
      do {
        if (text[i] == '<') ++depth;
        if (text[i] == '>') --depth;
        ++i;
      } while (i < n && depth > 0);
      flush();
      first_token = want_name = false;
      continue;
    } else if (c == '-' && i + 1 < n && (text[i + 1] == '>' || text[i + 1] == '-')) {
      i += 2;
      flush();
      first_token = want_name = false;
      continue;
    } else if (is_id_char(c)) {
      while (i < n && is_id_char(text[i]) && !(text[i] == '-' && i + 1 < n && (text[i + 1] == '>' || text[i + 1] == '-')))
        token += text[i++];
    } else {
      ++i;
      first_token = want_name = false;
      if (c == '=') after_equals = true;
      if (c == '[') ++brackets, flush();
      else if (c == ']') --brackets;
      else if (brackets > 0) continue;                                 // attribute lists hold no node ids
      else if (c == '=') have_pending = false, skip_next_id = true;  // `id = value` at statement level
      else if (c == ':') skip_next_id = true, flush();                // a port
      else flush();
      continue;
    }
    std::string lower;
    if (!quoted)
      for (char ch : token) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (first_token && lower == "strict") {
      // Kept out of Boost's sight (it would drop self-loops and parallel edges); parse_model checks that no
      // two edges join the same pair, which is all `strict` may mean for a model.
      r.strict = true;
      r.text.append(text, copied, token_start - copied).append(i - token_start, ' ');
      copied = i;
      continue;
    }
    first_token = false;
    if (want_name) {
      want_name = false;
      if (brackets == 0 && r.name.empty()) r.name = token;
    }
    if (brackets > 0) continue;
    if (skip_next_id) { skip_next_id = false; continue; }
    if (!quoted) {
      if (lower == "strict" || lower == "node" || lower == "edge") { flush(); continue; }
      if (lower == "graph" || lower == "digraph" || lower == "subgraph") {
        flush();
        // The name that may follow is the graph's, not a node's.
        size_t j = i;
        while (j < n && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
        if (j < n && text[j] != '{' && text[j] != '[') {
          skip_next_id = true;
          want_name = lower == "digraph" && r.order.empty() && r.name.empty();
        }
        continue;
      }
    }
    flush();
    pending = std::move(token);
    have_pending = true;
  }
  flush();
  r.text.append(text, copied, n - copied);
  return r;
}

}  // namespace

const std::vector<OptionSpec>& model_limit_specs() {
  const ModelLimits d;
  static const std::vector<OptionSpec> specs = {
      {"populations", std::to_string(d.populations), "nodes in a model", 1, 1e15, true, {}},
      {"projections", std::to_string(d.projections), "edges in a model", 1, 1e15, true, {}},
      {"size", std::to_string(d.size), "units in one population", 1, 2147483647, true, {}},
      {"units", std::to_string(d.units), "units in all populations together", 1, 1e15, true, {}},
      {"delay", std::to_string(d.delay), "steps a projection may reach back", 1, 2147483647, true, {}},
      {"delay_units", std::to_string(d.delay_units),
       "units kept in delay lines (sum of size x (longest delay read - 1))", 0, 1e15, true, {}},
      {"weights", std::to_string(d.weights), "sum over projections of source size x target size", 1, 1e15, true, {}},
      {"module_state", std::to_string(d.module_state), "rows memory modules keep per sequence (state and work)", 0,
       1e15, true, {}}};
  return specs;
}

ModelLimits model_limits(const std::map<std::string, std::string>& given, const std::string& owner) {
  const Options o(owner, model_limit_specs(), given);
  auto get = [&](const char* name) { return static_cast<long long>(o.number(name)); };
  ModelLimits l;
  l.populations = get("populations");
  l.projections = get("projections");
  l.size = get("size");
  l.units = get("units");
  l.delay = get("delay");
  l.delay_units = get("delay_units");
  l.weights = get("weights");
  l.module_state = get("module_state");
  return l;
}

int ModelGraph::find(const std::string& population) const {
  auto it = index.find(population);
  if (it != index.end() && it->second >= 0 && it->second < static_cast<int>(populations.size()) &&
      populations[it->second].name == population)
    return it->second;
  for (size_t i = 0; i < populations.size(); ++i)
    if (populations[i].name == population) return static_cast<int>(i);
  return -1;
}

std::string ModelGraph::edge_name(const ProjectionSpec& e) const {
  std::string attrs;
  if (e.delay) attrs += fmt::format("delay={}", e.delay);
  if (!e.port.empty()) attrs += fmt::format("{}port={}", attrs.empty() ? "" : " ", e.port);
  return fmt::format("{} -> {}{}{}", populations[e.source].name, populations[e.target].name,
                     attrs.empty() ? "" : fmt::format(" [{}]", attrs), e.copy > 0 ? fmt::format(" #{}", e.copy + 1) : "");
}

ModelGraph parse_model(const std::string& text, const std::string& source, const ModelLimits& limits) {
  DotScan scan = scan_dot(text);
  DotGraph dg;
  std::map<std::string, std::map<Vertex, std::string>> vattrs;
  std::map<std::string, std::map<Edge, std::string>> eattrs;
  boost::dynamic_properties dp([&](const std::string& name, const boost::any& key, const boost::any&)
                                   -> boost::shared_ptr<boost::dynamic_property_map> {
    if (key.type() == typeid(Vertex))
      return boost::make_shared<boost::detail::dynamic_property_map_adaptor<
          boost::associative_property_map<std::map<Vertex, std::string>>>>(
          boost::make_assoc_property_map(vattrs[name]));
    if (key.type() == typeid(Edge))
      return boost::make_shared<boost::detail::dynamic_property_map_adaptor<
          boost::associative_property_map<std::map<Edge, std::string>>>>(
          boost::make_assoc_property_map(eattrs[name]));
    return {};  // graph-level attributes (rankdir, ...) only affect drawing
  });
  dp.property("node_id", boost::get(&VertexProps::node_id, dg));
  try {
    if (!boost::read_graphviz(scan.text, dg, dp, "node_id")) fail("{}: not a DOT graph", source);
  } catch (const boost::undirected_graph_error&) {
    fail("{}: the model must be a directed graph (digraph), not an undirected one", source);
  } catch (const boost::graph_exception& e) {
    fail("{}: malformed DOT: {}", source, e.what());
  }

  ModelGraph g;
  g.source = source;
  if (!scan.name.empty()) g.name = scan.name;
  const long long nv = static_cast<long long>(boost::num_vertices(dg));
  const long long ne = static_cast<long long>(boost::num_edges(dg));
  if (nv > limits.populations) over_limit(source, "the number of populations", nv, "populations", limits.populations);
  if (ne > limits.projections) over_limit(source, "the number of projections", ne, "projections", limits.projections);
  // Attributes are read attribute by attribute, so the work is linear in what the file states.
  g.populations.resize(nv);
  std::vector<char> has_size(nv, 0);
  for (Vertex v : boost::make_iterator_range(boost::vertices(dg))) g.populations[v].name = dg[v].node_id;
  auto node_where = [&](Vertex v) { return fmt::format("{}: node '{}'", source, g.populations[v].name); };
  for (auto& [attr, values] : vattrs)
    for (auto& [v, value] : values) {
      auto& p = g.populations[v];
      if (attr == "kind") {
        p.kind = value;
      } else if (attr == "size" && value == "auto") {
        p.size = 0;
        p.size_auto = true;
        has_size[v] = 1;
      } else if (attr == "size") {
        const long long size = parse_int(value, node_where(v), "size", 1);
        if (size > limits.size) over_limit(node_where(v), "size", value, "size", limits.size);
        p.size = static_cast<int>(size);
        has_size[v] = 1;
      } else if (!drawing_attributes().count(attr)) {
        p.attributes[attr] = value;
      }
    }
  for (Vertex v : boost::make_iterator_range(boost::vertices(dg))) {
    if (g.populations[v].kind.empty()) fail("{}: missing attribute 'kind'", node_where(v));
    if (!has_size[v]) fail("{}: missing attribute 'size'", node_where(v));
  }
  std::map<Edge, size_t> edge_index;
  for (Edge e : boost::make_iterator_range(boost::edges(dg))) {
    ProjectionSpec pr;
    pr.source = static_cast<int>(boost::source(e, dg));
    pr.target = static_cast<int>(boost::target(e, dg));
    edge_index.emplace(e, g.projections.size());
    g.projections.push_back(pr);
  }
  auto edge_where = [&](const ProjectionSpec& pr) {
    return fmt::format("{}: edge '{} -> {}'", source, g.populations[pr.source].name, g.populations[pr.target].name);
  };
  static const std::set<std::string> inits = {"normal", "orthogonal", "identity", "zero"};
  for (auto& [attr, values] : eattrs)
    for (auto& [e, value] : values) {
      auto& pr = g.projections[edge_index.at(e)];
      if (attr == "delay") {
        const long long delay = parse_int(value, edge_where(pr), "delay", 0);
        if (delay > limits.delay) over_limit(edge_where(pr), "delay", value, "delay", limits.delay);
        pr.delay = static_cast<int>(delay);
      } else if (attr == "gain") {
        // Weights are drawn with standard deviation gain / sqrt(fan-in): beyond 100 every unit saturates, and
        // near the largest double the squares overflow.
        pr.gain = parse_number(value, edge_where(pr), "gain", "a number in [-100, 100]");
        if (std::abs(pr.gain) > 100) fail("{}: gain is {}, must be a number in [-100, 100]", edge_where(pr), value);
      } else if (attr == "init") {
        if (!inits.count(value))
          fail("{}: init is '{}', must be one of normal, orthogonal, identity, zero", edge_where(pr), value);
        pr.init = value;
      } else if (attr == "port") {
        if (value.empty()) fail("{}: port is empty; name one of the target module's ports", edge_where(pr));
        pr.port = value;
      } else if (attr == "autapses") {
        const long long autapses = parse_int(value, edge_where(pr), "autapses", 0);
        if (autapses > 1) fail("{}: autapses is {}, must be 0 or 1", edge_where(pr), value);
        pr.autapses = autapses != 0;
      } else if (attr == "density") {
        pr.density = parse_number(value, edge_where(pr), "density", "a number in (0, 1]");
        if (!(pr.density > 0 && pr.density <= 1))
          fail("{}: density is {}, must be a number in (0, 1]", edge_where(pr), value);
      } else if (!drawing_attributes().count(attr)) {
        fail("{}: unknown attribute '{}' (projections take delay, init, gain, port, autapses, density)", edge_where(pr),
             attr);
      }
    }
  // A strict graph keeps at most one edge per ordered pair: Graphviz would merge two into one, so a model
  // that states two is ambiguous.
  if (scan.strict) {
    std::set<std::pair<int, int>> pairs;
    for (const auto& pr : g.projections)
      if (!pairs.insert({pr.source, pr.target}).second)
        fail("{}: appears twice in a strict digraph, where Graphviz would merge the two into one edge; remove "
             "'strict' to keep both projections, or remove one",
             edge_where(pr));
  }
  // Put the populations in the order the file mentions them.
  std::unordered_map<std::string, size_t> rank;
  rank.reserve(scan.order.size());
  for (size_t k = 0; k < scan.order.size(); ++k) rank.emplace(scan.order[k], k);
  auto rank_of = [&](const std::string& name) {
    auto it = rank.find(name);
    return it == rank.end() ? scan.order.size() : it->second;
  };
  std::vector<size_t> key(g.populations.size());
  for (size_t k = 0; k < key.size(); ++k) key[k] = rank_of(g.populations[k].name);
  std::vector<int> perm(g.populations.size());
  for (size_t k = 0; k < perm.size(); ++k) perm[k] = static_cast<int>(k);
  std::stable_sort(perm.begin(), perm.end(), [&](int a, int b) { return key[a] < key[b]; });
  std::vector<int> where(perm.size());
  std::vector<PopulationSpec> sorted;
  sorted.reserve(perm.size());
  for (size_t k = 0; k < perm.size(); ++k)
    where[perm[k]] = static_cast<int>(k), sorted.push_back(std::move(g.populations[perm[k]]));
  g.populations = std::move(sorted);
  for (auto& e : g.projections) e.source = where[e.source], e.target = where[e.target];
  check_model(g, limits);
  return g;
}

ModelGraph read_model(const std::string& path, const ModelLimits& limits) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    fail("{}: not a file (give a DOT model file)", path);
  std::ifstream in(path);
  if (!in) fail("{}: cannot open the model file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_model(ss.str(), path, limits);
}

void check_model(ModelGraph& g, const ModelLimits& limits) {
  const auto& registry = PopulationRegistry::get();
  const int n = static_cast<int>(g.populations.size());
  if (n == 0) fail("{}: the model has no populations", g.source);
  if (n > limits.populations) over_limit(g.source, "the number of populations", n, "populations", limits.populations);
  const auto edges = static_cast<long long>(g.projections.size());
  if (edges > limits.projections)
    over_limit(g.source, "the number of projections", edges, "projections", limits.projections);
  g.index.clear();
  g.index.reserve(n);
  for (int i = 0; i < n; ++i)
    if (!g.index.emplace(g.populations[i].name, i).second)
      fail("{}: two populations are named '{}'", g.source, g.populations[i].name);
  std::vector<Role> role(n);
  long long units = 0;
  for (int i = 0; i < n; ++i) {
    auto& p = g.populations[i];
    const std::string where = fmt::format("{}: node '{}'", g.source, p.name);
    if (!registry.contains(p.kind)) {
      std::string known;
      for (const auto& [k, e] : registry.all()) known += (known.empty() ? "" : ", ") + k;
      fail("{}: unknown kind '{}' (known: {})", where, p.kind, known);
    }
    const auto& entry = registry.find(p.kind, "population kind");
    role[i] = entry.make.role;
    if (p.size_auto && role[i] == Role::hidden)
      fail("{}: size=auto is for input and output populations, whose size the task decides", where);
    // An auto size is 0 until a task resolves it (resolve_auto_sizes checks the model again then).
    if (!(p.size_auto && p.size == 0)) {
      if (p.size <= 0) fail("{}: size must be a positive integer (or auto, for an input or output)", where);
      if (p.size > limits.size) over_limit(where, "size", p.size, "size", limits.size);
    }
    units += p.size;
    // Resolving the kind's options here rejects unknown attributes at load time, naming the node.
    p.attributes = Options(where, entry.options, p.attributes).values();
  }
  if (units > limits.units) over_limit(g.source, "the total number of units", units, "units", limits.units);
  // Delay lines, weights, and further copies of a projection (numbered so each has a name of its own).
  std::vector<int> longest(n, 0);
  double weights = 0;
  std::map<std::tuple<int, int, int, std::string>, int> copies;
  for (auto& e : g.projections) {
    if (e.source < 0 || e.source >= n || e.target < 0 || e.target >= n)
      fail("{}: a projection joins a population that does not exist", g.source);
    const std::string where = fmt::format("{}: edge '{}'", g.source, g.edge_name(e));
    if (e.delay < 0) fail("{}: delay is {}, must be >= 0", where, e.delay);
    if (e.delay > limits.delay) over_limit(where, "delay", e.delay, "delay", limits.delay);
    if (!std::isfinite(e.gain) || std::abs(e.gain) > 100) fail("{}: gain is {}, must be in [-100, 100]", where, e.gain);
    longest[e.source] = std::max(longest[e.source], e.delay);
    weights += static_cast<double>(g.populations[e.source].size) * g.populations[e.target].size;
    e.copy = copies[{e.source, e.target, e.delay, e.port}]++;
  }
  // Sums in double: exact far beyond any limit, and they cannot overflow.
  if (weights > static_cast<double>(limits.weights))
    over_limit(g.source, "the number of weights (sum of source size x target size)", fmt::format("{:.0f}", weights),
               "weights", limits.weights);
  double delay_units = 0;
  for (int i = 0; i < n; ++i) delay_units += static_cast<double>(g.populations[i].size) * std::max(0, longest[i] - 1);
  if (delay_units > static_cast<double>(limits.delay_units))
    over_limit(g.source, "the number of units in delay lines", fmt::format("{:.0f}", delay_units), "delay_units",
               limits.delay_units);
  // Modules: their ports, made from the node's resolved options, so a port's size can depend on them.
  std::vector<std::unique_ptr<Module<double>>> module(n);
  for (int i = 0; i < n; ++i) {
    const auto& p = g.populations[i];
    const auto& entry = registry.find(p.kind, "population kind");
    if (entry.make.is_module())
      module[i] = entry.make.module_double(p.size, Options(fmt::format("{}: node '{}'", g.source, p.name),
                                                           entry.options, p.attributes));
  }
  std::vector<std::vector<int>> port_used(n);
  for (int i = 0; i < n; ++i)
    if (module[i]) port_used[i].assign(module[i]->shape().ports.size(), 0);
  // What the modules keep in the carried state (memory slots, fast-weight matrices), and keep per step.
  double module_rows = 0;
  for (int i = 0; i < n; ++i)
    if (module[i]) module_rows += static_cast<double>(module[i]->shape().state) + module[i]->shape().work;
  if (module_rows > static_cast<double>(limits.module_state))
    over_limit(g.source, "the modules' state and work rows", fmt::format("{:.0f}", module_rows), "module_state",
               limits.module_state);
  DotGraph instant(n);
  for (const auto& e : g.projections) {
    const std::string where = fmt::format("{}: edge '{}'", g.source, g.edge_name(e));
    if (role[e.target] == Role::input) fail("{}: an input population cannot receive projections", where);
    if (const auto* m = module[e.target].get()) {
      const auto& ports = m->shape().ports;
      std::string names;
      for (const auto& q : ports) names += (names.empty() ? "" : ", ") + q.name;
      if (e.port.empty())
        fail("{}: node '{}' is a {} module: say which port the projection feeds (port=..., one of {})", where,
             g.populations[e.target].name, g.populations[e.target].kind, names);
      auto it = std::find_if(ports.begin(), ports.end(), [&](const ModulePort& q) { return q.name == e.port; });
      if (it == ports.end())
        fail("{}: node '{}' ({}) has no port '{}' (its ports: {})", where, g.populations[e.target].name,
             g.populations[e.target].kind, e.port, names);
      ++port_used[e.target][it - ports.begin()];
      if (e.init == "identity" && it->size != g.populations[e.source].size)
        fail("{}: init=identity needs the port's size ({} for port '{}') to equal the source's ({})", where, it->size,
             e.port, g.populations[e.source].size);
    } else if (!e.port.empty()) {
      fail("{}: port={} but node '{}' ({}) is a population, not a module: drop the port attribute", where, e.port,
           g.populations[e.target].name, g.populations[e.target].kind);
    }
    if (!e.autapses && e.source != e.target)
      fail("{}: autapses=0 removes a unit's connection to itself, so it applies to a self-projection only", where);
    if ((!e.autapses || e.density < 1) && module[e.target])
      fail("{}: autapses and density apply to projections into populations, not into a module's port", where);
    if (e.delay == 0 && e.source == e.target)
      fail("{}: a zero-delay self-projection is a cycle with no delayed edge; give it delay=1", where);
    if (e.init == "identity" && !module[e.target] && g.populations[e.source].size != g.populations[e.target].size)
      fail("{}: init=identity needs equal source and target sizes ({} vs {})", where,
           g.populations[e.source].size, g.populations[e.target].size);
    if (e.delay == 0) boost::add_edge(e.source, e.target, instant);
  }
  for (int i = 0; i < n; ++i) {
    if (!module[i]) continue;
    const auto& ports = module[i]->shape().ports;
    for (size_t k = 0; k < ports.size(); ++k)
      if (ports[k].required && !port_used[i][k])
        fail("{}: node '{}' ({}): required port '{}' receives no projection (add e.g. 'h -> {} [port={}]')", g.source,
             g.populations[i].name, g.populations[i].kind, ports[k].name, g.populations[i].name, ports[k].name);
  }
  std::vector<int> component(n);
  const int components = boost::strong_components(
      instant, boost::make_iterator_property_map(component.begin(), boost::get(boost::vertex_index, instant)));
  if (components < n) {
    std::vector<int> count(components, 0);
    for (int c : component) ++count[c];
    for (int c = 0; c < components; ++c) {
      if (count[c] < 2) continue;
      std::string members;
      for (int i = 0; i < n; ++i)
        if (component[i] == c) members += (members.empty() ? "'" : ", '") + g.populations[i].name + "'";
      fail("{}: the populations {} form a cycle with no delayed edge; every cycle needs a projection with "
           "delay >= 1",
           g.source, members);
    }
  }
  std::vector<Vertex> reversed;
  boost::topological_sort(instant, std::back_inserter(reversed));
  g.order.assign(reversed.rbegin(), reversed.rend());

  // Every output must be reached from some input, through projections of any delay.
  DotGraph all(n);
  for (const auto& e : g.projections) boost::add_edge(e.source, e.target, all);
  std::vector<bool> reached(n, false);
  std::vector<int> frontier;
  for (int i = 0; i < n; ++i)
    if (role[i] == Role::input) reached[i] = true, frontier.push_back(i);
  if (frontier.empty()) fail("{}: the model has no input population (kind=input)", g.source);
  while (!frontier.empty()) {
    int v = frontier.back();
    frontier.pop_back();
    for (auto w : boost::make_iterator_range(boost::adjacent_vertices(v, all)))
      if (!reached[w]) reached[w] = true, frontier.push_back(static_cast<int>(w));
  }
  bool any_output = false;
  for (int i = 0; i < n; ++i) {
    if (role[i] != Role::output) continue;
    any_output = true;
    if (!reached[i]) fail("{}: node '{}': no input reaches this output", g.source, g.populations[i].name);
  }
  if (!any_output) fail("{}: the model has no output population (kind=output)", g.source);
}

std::string write_model(const ModelGraph& g) {
  // Written directly (linear, and every id quoted where DOT needs it); the populations in their order and the
  // projections in theirs, so reading the text back gives the same graph.
  std::string out = fmt::format("digraph {} {{\n  rankdir=LR;\n", dot_id(g.name));
  for (const auto& p : g.populations) {
    // "\\n" is Graphviz's line break inside a label.
    const std::string size = p.size_auto ? std::string("auto") : std::to_string(p.size);
    out += fmt::format("  {} [label={}, kind={}, size={}", dot_id(p.name),
                       quote(fmt::format("{}\\n{} {}", p.name, p.kind, size)), quote(p.kind), size);
    for (const auto& [k, val] : p.attributes) out += fmt::format(", {}={}", dot_id(k), quote(val));
    out += "];\n";
  }
  for (const auto& e : g.projections) {
    // gain in full precision, so a saved model reproduces the run.
    out += fmt::format("  {} -> {} [delay={}, init={}, gain={}", dot_id(g.populations[e.source].name),
                       dot_id(g.populations[e.target].name), e.delay, quote(e.init), quote(fmt::format("{}", e.gain)));
    if (!e.port.empty()) out += fmt::format(", port={}, headlabel={}", quote(e.port), quote(e.port));
    if (!e.autapses) out += ", autapses=0";
    if (e.density < 1) out += fmt::format(", density={}", quote(fmt::format("{}", e.density)));
    if (e.delay > 0) out += fmt::format(", style=dashed, label={}", quote(fmt::format("d={}", e.delay)));
    out += "];\n";
  }
  return out + "}\n";
}

void resolve_auto_sizes(ModelGraph& g, int inputs, int outputs, const std::string& task_name,
                        const ModelLimits& limits) {
  const auto& registry = PopulationRegistry::get();
  bool any = false;
  for (Role side : {Role::input, Role::output}) {
    const int want = side == Role::input ? inputs : outputs;
    const char* what = side == Role::input ? "inputs" : "outputs";
    int fixed = 0;
    PopulationSpec* open = nullptr;
    for (auto& p : g.populations) {
      if (!registry.contains(p.kind) || registry.find(p.kind, "population kind").make.role != side) continue;
      if (!p.size_auto) {
        fixed += p.size;
        continue;
      }
      if (open)
        fail("{}: nodes '{}' and '{}' both have size=auto; at most one of the {} can take what the others leave of "
             "the {} {} of task '{}'",
             g.source, open->name, p.name, what, want, what, task_name);
      open = &p;
    }
    if (!open) continue;
    any = true;
    if (want - fixed < 1)
      fail("{}: node '{}' has size=auto, but task '{}' has {} {} and the other {} already take {}", g.source,
           open->name, task_name, want, what, what, fixed);
    open->size = want - fixed;
  }
  if (any) check_model(g, limits);
}

void require_sizes(const ModelGraph& g) {
  for (const auto& p : g.populations)
    if (p.size_auto && p.size <= 0)
      fail("{}: node '{}' has size=auto, which a task decides: give the task (--task) to build the model", g.source,
           p.name);
}

void resolve_output_losses(ModelGraph& graph, const std::string& loss, const std::string& task_name) {
  for (auto& p : graph.populations) {
    auto it = p.attributes.find("loss");
    if (it == p.attributes.end()) continue;
    if (it->second == "auto") it->second = loss;
    else if (it->second != loss)
      fail("{}: node '{}': loss={} but task '{}' is scored with {}; drop the loss attribute or set loss={}",
           graph.source, p.name, it->second, task_name, loss, loss);
  }
}

}  // namespace credo
