// The model graph: populations (vertices) joined by projections (edges), read from and written to Graphviz DOT.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "framework/options.h"

namespace credo {

// A population: a named group of units of one kind. `attributes` holds the kind's own DOT attributes
// (e.g. alpha, loss) as written; the kind resolves and checks them.
struct PopulationSpec {
  std::string name;
  std::string kind;
  int size = 0;
  // size=auto (input and output populations): the task decides, through resolve_auto_sizes(); 0 until then.
  bool size_auto = false;
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
  // 0 for the first projection with this source, target, delay and port; 1, 2, ... for further ones the file
  // states (their weights add up, e.g. an identity plus a random part), so each has a name of its own.
  int copy = 0;
  // Fixed connectivity: autapses = false removes unit i -> unit i of a self-projection (h -> h), and density < 1
  // keeps a random fraction of the weights (a mask drawn at initialization). Masked weights start at zero and
  // stay there: the trainer and credo align zero their gradients (Program::mask).
  bool autapses = true;
  double density = 1.0;
};

// What a model may ask for. Beyond these a model is refused at load, naming the limit and how to raise it, so a
// typo (delay=100000) fails at once instead of making a run crawl or exhaust memory.
struct ModelLimits {
  long long populations = 1'000'000;  // nodes
  long long projections = 4'000'000;  // edges
  long long size = 1'000'000;         // units in one population
  long long units = 10'000'000;       // units in all populations together
  long long delay = 1'000;            // steps a projection may reach back
  long long delay_units = 10'000'000; // units kept in delay lines: sum of size x (longest delay read - 1)
  long long weights = 1'000'000'000;  // sum over projections of source size x target size
  long long module_state = 100'000'000;  // rows memory modules keep per sequence: their state and work rows
};
// The limits as options (name, default, meaning, range) for --limit name=value and for listings.
const std::vector<OptionSpec>& model_limit_specs();
// Limits from name=value pairs (unknown names and bad values are InputErrors naming `owner`).
ModelLimits model_limits(const std::map<std::string, std::string>& given, const std::string& owner = "--limit");

// The checked structure of a model. The DOT parsing, cycle and reachability checks run on a Boost.Graph
// adjacency_list inside graph.cpp (Boost.Graph is costly to compile, so it stays in one file); the rest of
// credo sees this plain value.
struct ModelGraph {
  std::string name = "model";
  std::string source;  // file the graph was read from, for messages
  std::vector<PopulationSpec> populations;
  std::vector<ProjectionSpec> projections;
  std::vector<int> order;  // populations in in-step order: every delay-0 projection goes forward in it
  std::unordered_map<std::string, int> index;  // population name -> position, filled by check_model

  // -1 if absent. Constant time through `index`; a linear scan if populations changed since check_model.
  int find(const std::string& population) const;
  // "h -> y", "h -> h [delay=1]", "m -> mem [port=key]"; a further copy of a projection gets " #2", " #3", ...
  std::string edge_name(const ProjectionSpec& e) const;
};

// Reads and checks a DOT model: unknown or missing attributes, bad sizes, delay-0 cycles and outputs
// nothing reaches are InputErrors naming the file and the node or edge. Kind-specific attributes are checked
// later, when the kind is made (compile()).
// Every number is range-checked (sizes and delays also against `limits`) and may be written in scientific
// notation, quoted or not. Every edge the file states is kept: a self-loop in a `strict digraph` too, and
// two edges joining the same pair in a strict graph (which Graphviz would merge) are refused.
ModelGraph read_model(const std::string& path, const ModelLimits& limits = {});
ModelGraph parse_model(const std::string& dot_text, const std::string& source_name, const ModelLimits& limits = {});

// Writes the normalized graph (every attribute explicit) as DOT that Graphviz draws.
std::string write_model(const ModelGraph& g);

// Sets every output's loss=auto to `loss` (the task's); fails, naming the node, if an output asks for another.
void resolve_output_losses(ModelGraph& graph, const std::string& loss, const std::string& task_name);

// Gives the input and output populations with size=auto their sizes from a task with `inputs` inputs and `outputs`
// outputs: one auto population among the inputs (outputs) takes what the others leave of the task's vector. Two
// auto populations on one side, or a task too small for the fixed ones, is an InputError naming the model and the
// task. The model keeps saying size=auto (write_model writes it so), so one model file serves every setting.
void resolve_auto_sizes(ModelGraph& graph, int inputs, int outputs, const std::string& task_name,
                        const ModelLimits& limits = {});
// Fails, naming the node, if a population still has size=auto (a command that builds the model without a task).
void require_sizes(const ModelGraph& graph);

// Checks structure (sizes and limits, delay-0 cycles, outputs reachable from an input) and fills `order`,
// `index` and each projection's `copy`.
void check_model(ModelGraph& g, const ModelLimits& limits = {});

}  // namespace credo
