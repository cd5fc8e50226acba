// The Program: a model graph compiled into one differentiable step, s_{t-1}, x_t -> s_t, y_t, for a batch.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "framework/graph.h"
#include "framework/loss.h"
#include "framework/module.h"
#include "framework/population.h"
#include "framework/tensor.h"

namespace credo {

// Everything one step computed: every node's output z, the populations' local derivative vectors and the
// modules' inputs and kept intermediates, and the carried state s_t. A credit algorithm keeps as many frames
// as it needs (BPTT: all of an episode; RTRL: one).
template <class T>
struct Frame {
  Mat<T> z;    // all populations' states and modules' outputs, stacked (Program::z_rows() x B)
  Mat<T> jac;  // populations' local derivative vectors; modules' inputs and work rows (Program::jac_rows() x B)
  Mat<T> s;    // the carried state s_t (Program::state_size() x B); a module's state lives only here
};

// A named slice of the flat parameter vector θ: one projection's weights or one population's biases.
struct ParamBlock {
  std::string name;   // "W[h -> y]", "b[h]"
  std::string owner;  // the population the block drives (the projection's target or the biased population)
  int offset = 0;
  int size = 0;
  int rows = 0, cols = 0;  // weights: rows x cols column-major; biases: size x 1
  bool is_bias = false;
};

// The carried state s_t is the concatenation of (a) the whole state z of every population that has
// intrinsic memory or is read through a delayed projection, (b) every memory module's state (and its output,
// when a delayed projection reads it), and (c) delay lines: for a node read with delay d >= 2, buffers
// holding its output from 1 .. d-1 steps before. So s_t = F(s_{t-1}, x_t; θ) is Markov and RTRL's influence
// matrix ds_t/dθ is well defined.
//
// All products are built from the populations' local derivative vectors (see PopulationShape) and the
// modules' own VJP and JVP (see framework/module.h):
//   vjp                  reverse mode: cotangents of s_t and y_t -> cotangent of s_{t-1} and dθ
//   jvp                  forward mode for one batch column: tangents of s_{t-1} (and θ) -> tangent of s_t
//   state_jacobian       J_t = ds_t/ds_{t-1} for one batch column
//   add_immediate_influence  Γ += M_t = ds_t/dθ at fixed s_{t-1}, touching only its nonzeros when a
//                        population's influence stays within its own units
// Work buffers are sized on first use and reused (the largest tangent count seen is kept), so once shapes
// are known no step allocates.
template <class T>
class Program {
 public:
  explicit Program(const ModelGraph& graph);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  const ModelGraph& graph() const { return graph_; }
  int state_size() const { return state_size_; }
  int param_count() const { return static_cast<int>(theta_.size()); }
  int input_size() const { return input_size_; }
  int output_size() const { return output_size_; }
  int z_rows() const { return z_rows_; }
  int jac_rows() const { return jac_rows_; }
  const std::vector<ParamBlock>& param_blocks() const { return blocks_; }
  // The loss of each output population, in output order; all outputs share one task target vector.
  std::vector<LossKind> output_losses() const;

  Vec<T>& params() { return theta_; }
  const Vec<T>& params() const { return theta_; }
  // Weights ~ N(0, gain^2 / fan-in) (or orthogonal / identity / zero as the projection says); biases as the
  // population kind says. A projection with density < 1 then draws its fixed mask (each weight kept with
  // probability density; kept normal weights scaled by 1/sqrt(density), so the drive keeps its variance), and
  // autapses=0 removes the diagonal; removed weights are zero.
  void init_params(std::mt19937_64& rng);
  // Zeroes the coordinates of v (the parameters, or a gradient before the optimizer uses it) that a projection's
  // fixed connectivity removes (autapses=0, density < 1), so they stay zero whatever an algorithm computes for
  // them. A no-op for a model without such projections.
  void mask(Vec<T>& v) const {
    for (int i : masked_) v(i) = T(0);
  }
  const std::vector<int>& masked() const { return masked_; }

  Frame<T> make_frame(int batch) const;
  Mat<T> zero_state(int batch) const { return Mat<T>::Zero(state_size_, batch); }

  // One step for the batch: x is input_size x B, s_prev state_size x B.
  void forward(const ConstMatRef<T>& s_prev, const ConstMatRef<T>& x, Frame<T>& f);
  // Spikes are sparse: a projection from a spiking population or an input adds only the weight columns of its
  // nonzero entries to the drive, column by column, when at most 1 in kSparseDriveRatio of them is nonzero;
  // denser activity takes the matrix product. Both paths give the same drive up to the order of the sums.
  // On by default; off forces the dense product (benchmarks, tests).
  static constexpr int kSparseDriveRatio = 8;
  void set_sparse_drive(bool on) { sparse_drive_ = on; }
  bool sparse_drive() const { return sparse_drive_; }
  // out += w * src over src's nonzero entries only, if they are few enough (then true); false leaves out alone.
  static bool add_sparse_product(const ConstMatRef<T>& w, const ConstMatRef<T>& src, MatRef<T> out);
  // The outputs of a frame (output_size x B), copied into y.
  void outputs(const Frame<T>& f, Mat<T>& y) const;
  // Sum over outputs and masked columns of the per-column loss; writes scale * dloss/dy into dy if given.
  T loss(const Frame<T>& f, const ConstMatRef<T>& target, const ConstMatRef<T>& mask, Mat<T>* dy, T scale) const;
  // Masked columns predicted correctly (all outputs right), for tasks where accuracy applies.
  double correct(const Frame<T>& f, const ConstMatRef<T>& target, const ConstMatRef<T>& mask) const;

  // Reverse mode. ds: cotangent of s_t (nullptr for zero); dy: cotangent of the outputs (output_size x B).
  // Writes the cotangent of s_{t-1} into ds_prev and adds the parameter gradient into grad.
  void vjp(const Frame<T>& f, const ConstMatRef<T>& s_prev, const Mat<T>* ds, const ConstMatRef<T>& dy,
           Mat<T>& ds_prev, Vec<T>& grad);
  // The same for batch column b of the frame alone: ds, dy and ds_prev have one column; grad gets that
  // column's parameter gradient (what UORO needs for νᵀM, without B times the work).
  void vjp_column(const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, const Mat<T>* ds, const ConstMatRef<T>& dy,
                  Mat<T>& ds_prev, Vec<T>& grad);

  // Forward mode for batch column b: ds = (ds_t/ds_{t-1}) ds_prev + (ds_t/dθ) dtheta, K tangents as columns.
  // ds_prev (state_size x K) or dtheta (param_count x K) may be nullptr for zero.
  void jvp(const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, const Mat<T>* ds_prev, const Mat<T>* dtheta,
           Mat<T>& ds);
  // J = ds_t/ds_{t-1} for batch column b (state_size x state_size).
  void state_jacobian(const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, Mat<T>& J);
  // gamma (state_size x param_count) += scale * ds_t/dθ for batch column b, at fixed s_{t-1}.
  void add_immediate_influence(const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, MatRef<T> gamma,
                               T scale = T(1));

  // G = ds_t / d drive_p (state_size x drive_rows) for batch column b: how node p's drive (a module's input)
  // moves the carried state within one step. Unit-local (diagonal blocks) unless p is a module or reaches
  // other carried nodes through delay-0 projections. Every parameter feeding p acts through this matrix.
  void drive_influence(const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, int p, Mat<T>& G);

  // Structure, for algorithms that work on populations (SnAp, e-prop, KF-RTRL, RFLO) and for reports.
  // A bias: `rows` parameters at θ offset `offset` added into rows [drive_row, drive_row + rows) of the drive.
  struct BiasInfo {
    int drive_row = 0, rows = 0, offset = 0;
  };
  struct PopInfo {
    std::string name;
    std::string kind;
    Role role = Role::hidden;
    PopulationShape shape;  // for a module: units = its output rows, one slot, no local derivatives
    bool module = false;    // a memory module (module_shape holds its ports, state and work rows)
    ModuleShape module_shape;
    int drive_rows = 0;  // rows of the drive: blocks * units, or a module's ports stacked
    int z_offset = 0;    // rows of z in Frame::z
    int jac_offset = 0;  // rows of the local derivatives (a module: its input, then its work rows) in Frame::jac
    int jac_rows = 0;
    int state_offset = -1;  // rows of z in s (all slots), or -1 when not carried
    int module_state_offset = -1;  // a module's state rows in s (module_shape.state of them), or -1
    std::vector<int> buffer_offsets;  // rows in s of the delay line, 1 .. d-1 steps back
    int io_offset = 0;   // rows in x (inputs) or y (outputs)
    std::vector<int> bias_offsets;  // per drive block (a module: per port): offset in θ of its biases, or -1
    std::vector<BiasInfo> biases;   // the same, as drive rows
    std::vector<int> projections_in;
    bool instant_reaches_state = false;  // a delay-0 path leads to another carried node
    bool sparse_source = false;          // a spiking kind or an input: its projections may take the sparse path
    // Its immediate influence goes through drive_influence: a module, or a population reaching other carried
    // nodes within the step.
    bool general_influence() const { return module || instant_reaches_state; }
  };
  struct ProjInfo {
    int source = 0, target = 0, delay = 0;
    int rows = 0, cols = 0;
    int weight_offset = 0;  // in θ, column-major rows x cols
    int drive_row = 0;      // first row of the target's drive this projection adds into
    int first_block = 0;    // first drive block of the target it feeds (-1 for a module's port)
  };
  const std::vector<PopInfo>& populations() const { return pops_info_; }
  const std::vector<ProjInfo>& projections() const { return projs_; }
  const std::vector<int>& order() const { return graph_.order; }
  // The first module in the model (by file order), or -1: for algorithms that rely on unit-local structure
  // and must refuse a model with modules, naming it.
  int first_module() const;
  // Rows of s holding stored memory content (ModuleShape::memory_rows of every module), as (first, rows).
  std::vector<std::pair<int, int>> memory_state_rows() const;
  // Rows of s where population p's output slot is carried (state_offset + out_slot * n), or -1.
  int out_state_row(int p) const;
  // Where a projection reads its source: rows of Frame::z (delay 0: the source's output now) or of s_{t-1}
  // (delay d >= 1: the output d steps back).
  int source_row(const ProjInfo& e) const;
  // What projection e carries at this step, all batch columns: its source's output now (delay 0, from the
  // frame) or d steps back (from s_{t-1}).
  typename Mat<T>::ConstRowsBlockXpr presynaptic(const ProjInfo& e, const Frame<T>& f, const Mat<T>& s_prev) const {
    return e.delay == 0 ? f.z.middleRows(source_row(e), e.cols) : s_prev.middleRows(source_row(e), e.cols);
  }
  MatMap<T> weight(const ProjInfo& e) { return MatMap<T>(theta_.data() + e.weight_offset, e.rows, e.cols); }
  Eigen::Map<const Mat<T>> weight(const ProjInfo& e) const {
    return Eigen::Map<const Mat<T>>(theta_.data() + e.weight_offset, e.rows, e.cols);
  }

 private:
  struct Workspace;
  struct Reverse;
  void fill_drive(int p, const Frame<T>& f, const ConstMatRef<T>& s_prev, MatRef<T> d) const;

  void vjp_range(const Frame<T>& f, const ConstMatRef<T>& s_prev, int c0, int nc, const Mat<T>* ds,
                 const ConstMatRef<T>& dy, Mat<T>& ds_prev, Vec<T>& grad, Reverse& rv);
  void tangent_pop(int p, const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, const Mat<T>* ds_prev, MatRef<T> tz,
                   MatRef<T> tdrive, MatRef<T> tstate);

  ModelGraph graph_;
  std::vector<std::unique_ptr<Population<T>>> impl_;
  std::vector<std::unique_ptr<Module<T>>> modules_;
  std::vector<PopInfo> pops_info_;
  bool sparse_drive_ = true;
  std::vector<ProjInfo> projs_;
  std::vector<ParamBlock> blocks_;
  std::vector<LossKind> loss_kind_;  // per population; meaningful for outputs
  Vec<T> theta_;
  std::vector<int> masked_;  // coordinates of θ removed by autapses=0 or density < 1, sorted
  int state_size_ = 0, input_size_ = 0, output_size_ = 0, z_rows_ = 0, jac_rows_ = 0;
  std::unique_ptr<Workspace> ws_;
};

extern template class Program<float>;
extern template class Program<double>;

}  // namespace credo
