#include "framework/graph.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

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

int parse_int(const std::string& v, const std::string& where, const std::string& attr, int min, int max) {
  try {
    size_t used = 0;
    long x = std::stol(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    if (x < min || x > max) fail("{}: {} is {}, must be an integer in [{}, {}]", where, attr, v, min, max);
    return static_cast<int>(x);
  } catch (const std::logic_error&) {
    fail("{}: {} is '{}', must be an integer in [{}, {}]", where, attr, v, min, max);
  }
}

double parse_double(const std::string& v, const std::string& where, const std::string& attr) {
  try {
    size_t used = 0;
    double x = std::stod(v, &used);
    if (used != v.size() || !std::isfinite(x)) throw std::invalid_argument(v);
    return x;
  } catch (const std::logic_error&) {
    fail("{}: {} is '{}', not a number", where, attr, v);
  }
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '\\';  // backslashes are left alone: "\n" is Graphviz's line break
    out += c;
  }
  return out + "\"";
}

// Node ids in the order the file first mentions them. Boost's reader creates vertices in sorted-name order,
// but inputs and outputs take the task's vectors in file order, so the order has to come from the text.
std::vector<std::string> mention_order(const std::string& text) {
  std::vector<std::string> order;
  std::set<std::string> seen;
  size_t i = 0;
  const size_t n = text.size();
  int brackets = 0;
  bool skip_next_id = false;   // the graph's own name, or a value after '='
  std::string pending;         // an id that may turn out to be an attribute name (id = value)
  bool have_pending = false;
  auto flush = [&] {
    if (have_pending && !seen.count(pending)) seen.insert(pending), order.push_back(pending);
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
    std::string token;
    bool quoted = false;
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
      continue;
    } else if (c == '-' && i + 1 < n && (text[i + 1] == '>' || text[i + 1] == '-')) {
      i += 2;
      flush();
      continue;
    } else if (is_id_char(c)) {
      while (i < n && is_id_char(text[i]) && !(text[i] == '-' && i + 1 < n && (text[i + 1] == '>' || text[i + 1] == '-')))
        token += text[i++];
    } else {
      ++i;
      if (c == '[') ++brackets, flush();
      else if (c == ']') --brackets;
      else if (brackets > 0) continue;                                 // attribute lists hold no node ids
      else if (c == '=') have_pending = false, skip_next_id = true;  // `id = value` at statement level
      else if (c == ':') skip_next_id = true, flush();                // a port
      else flush();
      continue;
    }
    if (brackets > 0) continue;
    if (skip_next_id) { skip_next_id = false; continue; }
    if (!quoted) {
      std::string lower;
      for (char ch : token) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (lower == "strict" || lower == "node" || lower == "edge") { flush(); continue; }
      if (lower == "graph" || lower == "digraph" || lower == "subgraph") {
        flush();
        // The name that may follow is the graph's, not a node's.
        size_t j = i;
        while (j < n && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
        if (j < n && text[j] != '{' && text[j] != '[') skip_next_id = true;
        continue;
      }
    }
    flush();
    pending = token;
    have_pending = true;
  }
  flush();
  return order;
}

}  // namespace

int ModelGraph::find(const std::string& population) const {
  for (size_t i = 0; i < populations.size(); ++i)
    if (populations[i].name == population) return static_cast<int>(i);
  return -1;
}

std::string ModelGraph::edge_name(const ProjectionSpec& e) const {
  std::string attrs;
  if (e.delay) attrs += fmt::format("delay={}", e.delay);
  if (!e.port.empty()) attrs += fmt::format("{}port={}", attrs.empty() ? "" : " ", e.port);
  return fmt::format("{} -> {}{}", populations[e.source].name, populations[e.target].name,
                     attrs.empty() ? "" : fmt::format(" [{}]", attrs));
}

ModelGraph parse_model(const std::string& text, const std::string& source) {
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
    if (!boost::read_graphviz(text, dg, dp, "node_id")) fail("{}: not a DOT graph", source);
  } catch (const boost::undirected_graph_error&) {
    fail("{}: the model must be a directed graph (digraph), not an undirected one", source);
  } catch (const boost::graph_exception& e) {
    fail("{}: malformed DOT: {}", source, e.what());
  }

  ModelGraph g;
  g.source = source;
  std::smatch m;
  if (std::regex_search(text, m, std::regex(R"(digraph\s+("?)([A-Za-z0-9_.\-]+)\1\s*\{)"))) g.name = m[2];
  for (Vertex v : boost::make_iterator_range(boost::vertices(dg))) {
    PopulationSpec p;
    p.name = dg[v].node_id;
    const std::string where = fmt::format("{}: node '{}'", source, p.name);
    for (auto& [attr, values] : vattrs) {
      auto it = values.find(v);
      if (it == values.end()) continue;
      if (attr == "kind") p.kind = it->second;
      else if (attr == "size") p.size = parse_int(it->second, where, "size", 1, 1'000'000);
      else if (!drawing_attributes().count(attr)) p.attributes[attr] = it->second;
    }
    if (p.kind.empty()) fail("{}: missing attribute 'kind'", where);
    if (!vattrs["size"].count(v)) fail("{}: missing attribute 'size'", where);
    g.populations.push_back(std::move(p));
  }
  for (Edge e : boost::make_iterator_range(boost::edges(dg))) {
    ProjectionSpec pr;
    pr.source = static_cast<int>(boost::source(e, dg));
    pr.target = static_cast<int>(boost::target(e, dg));
    const std::string where = fmt::format("{}: edge '{} -> {}'", source, g.populations[pr.source].name,
                                          g.populations[pr.target].name);
    for (auto& [attr, values] : eattrs) {
      auto it = values.find(e);
      if (it == values.end()) continue;
      if (attr == "delay") pr.delay = parse_int(it->second, where, "delay", 0, 100'000);
      else if (attr == "gain") pr.gain = parse_double(it->second, where, "gain");
      else if (attr == "init") {
        static const std::set<std::string> inits = {"normal", "orthogonal", "identity", "zero"};
        if (!inits.count(it->second))
          fail("{}: init is '{}', must be one of normal, orthogonal, identity, zero", where, it->second);
        pr.init = it->second;
      } else if (attr == "port") {
        if (it->second.empty()) fail("{}: port is empty; name one of the target module's ports", where);
        pr.port = it->second;
      } else if (!drawing_attributes().count(attr))
        fail("{}: unknown attribute '{}' (projections take delay, init, gain, port)", where, attr);
    }
    g.projections.push_back(pr);
  }
  // Put the populations in the order the file mentions them.
  const auto order = mention_order(text);
  auto rank = [&](const std::string& name) {
    auto it = std::find(order.begin(), order.end(), name);
    return it == order.end() ? order.size() : static_cast<size_t>(it - order.begin());
  };
  std::vector<int> perm(g.populations.size());
  for (size_t k = 0; k < perm.size(); ++k) perm[k] = static_cast<int>(k);
  std::stable_sort(perm.begin(), perm.end(),
                   [&](int a, int b) { return rank(g.populations[a].name) < rank(g.populations[b].name); });
  std::vector<int> where(perm.size());
  std::vector<PopulationSpec> sorted;
  for (size_t k = 0; k < perm.size(); ++k) where[perm[k]] = static_cast<int>(k), sorted.push_back(g.populations[perm[k]]);
  g.populations = std::move(sorted);
  for (auto& e : g.projections) e.source = where[e.source], e.target = where[e.target];
  check_model(g);
  return g;
}

ModelGraph read_model(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    fail("{}: not a file (give a DOT model file)", path);
  std::ifstream in(path);
  if (!in) fail("{}: cannot open the model file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_model(ss.str(), path);
}

void check_model(ModelGraph& g) {
  const auto& registry = PopulationRegistry::get();
  const int n = static_cast<int>(g.populations.size());
  if (n == 0) fail("{}: the model has no populations", g.source);
  std::vector<Role> role(n);
  for (int i = 0; i < n; ++i) {
    auto& p = g.populations[i];
    const std::string where = fmt::format("{}: node '{}'", g.source, p.name);
    if (!registry.contains(p.kind)) {
      std::string known;
      for (const auto& [k, e] : registry.all()) known += (known.empty() ? "" : ", ") + k;
      fail("{}: unknown kind '{}' (known: {})", where, p.kind, known);
    }
    if (p.size <= 0) fail("{}: size must be a positive integer", where);
    const auto& entry = registry.find(p.kind, "population kind");
    role[i] = entry.make.role;
    // Resolving the kind's options here rejects unknown attributes at load time, naming the node.
    p.attributes = Options(where, entry.options, p.attributes).values();
  }
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
  DotGraph dg(g.populations.size());
  for (const auto& e : g.projections) boost::add_edge(e.source, e.target, dg);
  std::vector<const ProjectionSpec*> edge_spec;
  for (const auto& e : g.projections) edge_spec.push_back(&e);
  // Edges come back in out-edge order, not insertion order: match them to specs by endpoints.
  std::map<std::pair<int, int>, std::vector<const ProjectionSpec*>> by_ends;
  for (const auto& e : g.projections) by_ends[{e.source, e.target}].push_back(&e);
  std::map<Edge, const ProjectionSpec*> spec_of;
  for (Edge e : boost::make_iterator_range(boost::edges(dg))) {
    auto& list = by_ends[{static_cast<int>(boost::source(e, dg)), static_cast<int>(boost::target(e, dg))}];
    spec_of[e] = list.front();
    list.erase(list.begin());
  }
  std::ostringstream os;
  boost::write_graphviz(
      os, dg,
      [&](std::ostream& out, Vertex v) {
        const auto& p = g.populations[v];
        // "\\n" is Graphviz's line break inside a label.
        out << "[label=" << quote(fmt::format("{}\\n{} {}", p.name, p.kind, p.size)) << ", kind=" << quote(p.kind)
            << ", size=" << p.size;
        for (const auto& [k, val] : p.attributes) out << ", " << k << "=" << quote(val);
        out << "]";
      },
      [&](std::ostream& out, Edge e) {
        const auto* s = spec_of[e];
        // gain in full precision, so a saved model reproduces the run.
        out << "[delay=" << s->delay << ", init=" << quote(s->init) << ", gain=" << quote(fmt::format("{}", s->gain));
        if (!s->port.empty()) out << ", port=" << quote(s->port) << ", headlabel=" << quote(s->port);
        if (s->delay > 0) out << ", style=dashed, label=" << quote(fmt::format("d={}", s->delay));
        out << "]";
      },
      [&](std::ostream& out) { out << "rankdir=LR;\n"; },
      boost::make_transform_value_property_map([&](Vertex v) { return g.populations[v].name; },
                                               boost::get(boost::vertex_index, dg)));
  std::string text = os.str();
  // Name the graph after the model.
  const std::string head = "digraph G {";
  if (text.rfind(head, 0) == 0) text = "digraph " + quote(g.name) + " {" + text.substr(head.size());
  return text;
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
