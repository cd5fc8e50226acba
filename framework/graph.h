// The model graph: populations (vertices) joined by projections (edges), read from and written to Graphviz DOT.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace credo {

// A population: a named group of units of one kind. `attributes` holds the kind's own DOT attributes
// (e.g. alpha, loss) as written; the kind resolves and checks them.
struct PopulationSpec {
  std::string name;
  std::string kind;
  int size = 0;
  std::map<std::string, std::string> attributes;
};

// A projection: a weight matrix from one population's output into another's drive. delay = d reads the
// source's output from d steps ago; delay >= 1 is what makes the graph recurrent.
struct ProjectionSpec {
  int source = 0;  // index into ModelGraph::populations
  int target = 0;
  int delay = 0;
  std::string init = "normal";  // normal | orthogonal | identity | zero
  double gain = 1.0;
  std::string port;  // the input port of a memory-module target (empty for a population target)
};

// The checked structure of a model. The DOT parsing, cycle and reachability checks run on a Boost.Graph
// adjacency_list inside graph.cpp (Boost.Graph is costly to compile, so it stays in one file); the rest of
// credo sees this plain value.
struct ModelGraph {
  std::string name = "model";
  std::string source;  // file the graph was read from, for messages
  std::vector<PopulationSpec> populations;
  std::vector<ProjectionSpec> projections;
  std::vector<int> order;  // populations in in-step order: every delay-0 projection goes forward in it

  int find(const std::string& population) const;  // -1 if absent
  std::string edge_name(const ProjectionSpec& e) const;
};

// Reads and checks a DOT model: unknown or missing attributes, bad sizes, delay-0 cycles and outputs
// nothing reaches are InputErrors naming the file and the node or edge. Kind-specific attributes are checked
// later, when the kind is made (compile()).
ModelGraph read_model(const std::string& path);
ModelGraph parse_model(const std::string& dot_text, const std::string& source_name);

// Writes the normalized graph (every attribute explicit) as DOT that Graphviz draws.
std::string write_model(const ModelGraph& g);

// Sets every output's loss=auto to `loss` (the task's); fails, naming the node, if an output asks for another.
void resolve_output_losses(ModelGraph& graph, const std::string& loss, const std::string& task_name);

// Checks structure (sizes, delay-0 cycles, outputs reachable from an input) and fills `order`. `role_of`
// gives each population's role ("input", "output" or "hidden") from its kind.
void check_model(ModelGraph& g);

}  // namespace credo
