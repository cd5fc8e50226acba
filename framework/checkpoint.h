// Checkpoints: a training run's whole state in one file (credo checkpoint format, version 1), written atomically
// and checked on reading.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/credit.h"
#include "framework/npy.h"
#include "framework/program.h"

namespace credo {

// The file, all integers little-endian:
//   "CREDOCKP"                 8 bytes, the magic string
//   version                    u32, 1
//   sections                   u32, how many follow
//   per section: name length   u32, then the name (ASCII)
//                payload size  u64, then the payload
//   CRC-32                     u32, of every byte before it (ISO-HDLC, as ZIP and PNG use)
//   "KPCODERC"                 8 bytes, the magic string reversed: the file ends here
// The first section is "meta", a JSON object: the format and version, the run's configuration, the normalized
// model (model_dot), its parameter blocks (name, offset, size), the precision, and the position in the run
// (updates, time steps, episodes drawn). Arrays (θ, the optimizer's moments, an algorithm's carried state) are
// sections holding .npy files, so each is self-describing; "metrics.csv" holds the run's metrics so far.
struct Checkpoint {
  static constexpr int kVersion = 1;

  nlohmann::json meta = nlohmann::json::object();
  std::vector<std::pair<std::string, std::string>> sections;  // besides "meta", in order

  void add(const std::string& name, std::string bytes);
  void add_array(const std::string& name, const npy::Array& a);
  bool has(const std::string& name) const;
  // A section's bytes; a missing section is an InputError naming `where`.
  const std::string& get(const std::string& name, const std::string& where) const;
  npy::Array array(const std::string& name, const std::string& where) const;
};

std::string encode_checkpoint(const Checkpoint& c);
// A malformed, truncated or corrupt checkpoint, or one of a newer format version, is an InputError naming `where`
// and saying which.
Checkpoint decode_checkpoint(std::string_view bytes, const std::string& where);

// Written to a temporary file beside `path`, flushed to the disk, then renamed over `path`: a crash leaves the
// previous checkpoint or the new one, never half of one.
void write_checkpoint(const std::string& path, const Checkpoint& c);
Checkpoint read_checkpoint(const std::string& path);

// A credit algorithm's carried state (CreditAlgorithm::visit_state) into a checkpoint: each matrix and vector a
// section "<prefix><name>" holding an .npy, numbers and random generators in meta["<prefix>"].
template <class T>
class StateSaver final : public StateVisitor<T> {
 public:
  StateSaver(Checkpoint& c, std::string prefix) : c_(c), prefix_(std::move(prefix)) {}
  void matrix(const std::string& name, Mat<T>& m) override;
  void vector(const std::string& name, Vec<T>& v) override;
  void number(const std::string& name, std::int64_t& v) override;
  void number(const std::string& name, std::uint64_t& v) override;
  void real(const std::string& name, double& v) override;
  void generator(const std::string& name, std::mt19937_64& g) override;
  using StateVisitor<T>::number;

 private:
  Checkpoint& c_;
  std::string prefix_;
};

// And back: restores what a StateSaver wrote; a member missing or of another type is an InputError naming `where`.
template <class T>
class StateLoader final : public StateVisitor<T> {
 public:
  StateLoader(const Checkpoint& c, std::string prefix, std::string where)
      : c_(c), prefix_(std::move(prefix)), where_(std::move(where)) {}
  void matrix(const std::string& name, Mat<T>& m) override;
  void vector(const std::string& name, Vec<T>& v) override;
  void number(const std::string& name, std::int64_t& v) override;
  void number(const std::string& name, std::uint64_t& v) override;
  void real(const std::string& name, double& v) override;
  void generator(const std::string& name, std::mt19937_64& g) override;
  using StateVisitor<T>::number;

 private:
  const nlohmann::json& value(const std::string& name) const;
  const Checkpoint& c_;
  std::string prefix_, where_;
};

extern template class StateSaver<float>;
extern template class StateSaver<double>;
extern template class StateLoader<float>;
extern template class StateLoader<double>;

// The parameter blocks of a model, as the checkpoint's meta records them.
template <class T>
nlohmann::json block_list(const Program<T>& prog);
// Refuses (an InputError naming `where` and the first difference) a checkpoint whose parameter blocks are not the
// model's: another model, or the same one with other sizes.
template <class T>
void check_same_blocks(const Checkpoint& c, const Program<T>& prog, const std::string& where);

}  // namespace credo
