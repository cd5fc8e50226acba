#include "framework/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <filesystem>
#include <sstream>
#include <type_traits>

#include <fmt/format.h>

#include "framework/error.h"

namespace credo {

namespace {

constexpr std::string_view kMagic = "CREDOCKP";
constexpr std::string_view kEnd = "KPCODERC";

void put32(std::string& out, std::uint32_t v) {
  for (int k = 0; k < 4; ++k) out += static_cast<char>((v >> (8 * k)) & 0xff);
}
void put64(std::string& out, std::uint64_t v) {
  for (int k = 0; k < 8; ++k) out += static_cast<char>((v >> (8 * k)) & 0xff);
}
std::uint64_t get(std::string_view b, size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(k)]);
  return v;
}

}  // namespace

void Checkpoint::add(const std::string& name, std::string bytes) {
  if (name == "meta" || has(name)) throw std::logic_error(fmt::format("checkpoint: section '{}' twice", name));
  sections.emplace_back(name, std::move(bytes));
}

void Checkpoint::add_array(const std::string& name, const npy::Array& a) { add(name, npy::encode(a)); }

bool Checkpoint::has(const std::string& name) const {
  for (const auto& [n, b] : sections)
    if (n == name) return true;
  return false;
}

const std::string& Checkpoint::get(const std::string& name, const std::string& where) const {
  for (const auto& [n, b] : sections)
    if (n == name) return b;
  fail("{}: the checkpoint has no '{}' section", where, name);
}

npy::Array Checkpoint::array(const std::string& name, const std::string& where) const {
  return npy::decode(get(name, where), fmt::format("{} (section '{}')", where, name));
}

std::string encode_checkpoint(const Checkpoint& c) {
  std::string out(kMagic);
  put32(out, Checkpoint::kVersion);
  put32(out, static_cast<std::uint32_t>(c.sections.size() + 1));
  auto section = [&](const std::string& name, const std::string& bytes) {
    put32(out, static_cast<std::uint32_t>(name.size()));
    out += name;
    put64(out, bytes.size());
    out += bytes;
  };
  nlohmann::json meta = c.meta;
  meta["format"] = "credo-checkpoint";
  meta["version"] = Checkpoint::kVersion;
  section("meta", meta.dump(1) + "\n");
  for (const auto& [name, bytes] : c.sections) section(name, bytes);
  put32(out, npy::crc32(out));
  out += kEnd;
  return out;
}

Checkpoint decode_checkpoint(std::string_view b, const std::string& where) {
  if (b.size() < kMagic.size() || b.substr(0, kMagic.size()) != kMagic)
    fail("{}: not a credo checkpoint (it does not start with \"CREDOCKP\")", where);
  if (b.size() < 16 + 4 + kEnd.size() || b.substr(b.size() - kEnd.size()) != kEnd)
    fail("{}: truncated checkpoint (its end marker is missing: the file was cut short)", where);
  const auto version = get(b, 8, 4);
  if (version != Checkpoint::kVersion)
    fail("{}: checkpoint format version {}; this credo reads version {}", where, version, Checkpoint::kVersion);
  const size_t body = b.size() - kEnd.size() - 4;
  if (npy::crc32(b.substr(0, body)) != get(b, body, 4))
    fail("{}: corrupt checkpoint (CRC-32 mismatch: the file was changed or damaged)", where);
  const auto count = get(b, 12, 4);
  Checkpoint c;
  size_t at = 16;
  for (std::uint64_t k = 0; k < count; ++k) {
    if (at + 4 > body) fail("{}: malformed checkpoint (section {} runs past the end)", where, k);
    const auto name_len = get(b, at, 4);
    if (name_len > 4096 || at + 4 + name_len + 8 > body) fail("{}: malformed checkpoint (section {})", where, k);
    const std::string name(b.substr(at + 4, name_len));
    at += 4 + name_len;
    const auto size = get(b, at, 8);
    at += 8;
    if (size > body - at) fail("{}: malformed checkpoint (section '{}' runs past the end)", where, name);
    std::string bytes(b.substr(at, size));
    at += size;
    if (k == 0) {
      if (name != "meta") fail("{}: malformed checkpoint (it does not begin with its meta section)", where);
      try {
        c.meta = nlohmann::json::parse(bytes);
      } catch (const nlohmann::json::exception& e) {
        fail("{}: malformed checkpoint (meta is not JSON: {})", where, e.what());
      }
      if (!c.meta.is_object() || c.meta.value("format", std::string()) != "credo-checkpoint")
        fail("{}: malformed checkpoint (meta does not say format credo-checkpoint)", where);
    } else {
      if (c.has(name)) fail("{}: malformed checkpoint (section '{}' twice)", where, name);
      c.sections.emplace_back(name, std::move(bytes));
    }
  }
  if (at != body) fail("{}: malformed checkpoint ({} bytes after the last section)", where, body - at);
  if (count == 0) fail("{}: malformed checkpoint (no sections)", where);
  return c;
}

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::string bytes = encode_checkpoint(c);
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail("{}: cannot write", tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      std::remove(tmp.c_str());
      fail("{}: write failed (disk full?)", tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::remove(tmp.c_str());
    fail("{}: write failed (disk full?)", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail("{}: cannot replace the file", path);
  }
  // The rename itself reaches the disk with the folder.
  const auto dir = std::filesystem::path(path).parent_path();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

Checkpoint read_checkpoint(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail("{}: a folder; give the checkpoint file (a run folder holds it as checkpoint.ckpt)", path);
  return decode_checkpoint(npy::read_file(path), path);
}

namespace {

template <class T>
const char* dtype_of() {
  return std::is_same_v<T, float> ? "<f4" : "<f8";
}

}  // namespace

template <class T>
void StateSaver<T>::matrix(const std::string& name, Mat<T>& m) {
  // Column-major, as Eigen holds it: Fortran order.
  c_.add_array(prefix_ + name, npy::make_array(m.data(), {m.rows(), m.cols()}, true));
}

template <class T>
void StateSaver<T>::vector(const std::string& name, Vec<T>& v) {
  c_.add_array(prefix_ + name, npy::make_array(v.data(), {v.size()}));
}

template <class T>
void StateSaver<T>::number(const std::string& name, std::int64_t& v) {
  c_.meta[prefix_][name] = v;
}

template <class T>
void StateSaver<T>::number(const std::string& name, std::uint64_t& v) {
  c_.meta[prefix_][name] = v;
}

template <class T>
void StateSaver<T>::real(const std::string& name, double& v) {
  // JSON numbers round-trip doubles exactly; a non-finite one is kept as text.
  c_.meta[prefix_][name] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(fmt::format("{}", v));
}

template <class T>
void StateSaver<T>::generator(const std::string& name, std::mt19937_64& g) {
  std::ostringstream text;
  text << g;  // the generator's whole state, as the standard defines its text form
  c_.meta[prefix_][name] = text.str();
}

template <class T>
void StateLoader<T>::matrix(const std::string& name, Mat<T>& m) {
  const npy::Array a = c_.array(prefix_ + name, where_);
  const std::string what = fmt::format("{} (section '{}{}')", where_, prefix_, name);
  if (a.dtype != dtype_of<T>() || a.shape.size() != 2 || !a.fortran_order)
    fail("{}: not a {} matrix as credo saves them", what, dtype_of<T>());
  m.resize(a.shape[0], a.shape[1]);
  if (a.data.size() != static_cast<size_t>(m.size()) * sizeof(T)) fail("{}: its data do not fill its shape", what);
  if (!a.data.empty()) std::memcpy(m.data(), a.data.data(), a.data.size());  // an empty matrix has no data
}

template <class T>
void StateLoader<T>::vector(const std::string& name, Vec<T>& v) {
  const npy::Array a = c_.array(prefix_ + name, where_);
  if (a.dtype != dtype_of<T>() || a.shape.size() != 1)
    fail("{} (section '{}{}'): not a {} vector as credo saves them", where_, prefix_, name, dtype_of<T>());
  v.resize(a.shape[0]);
  if (a.data.size() != static_cast<size_t>(v.size()) * sizeof(T))
    fail("{} (section '{}{}'): its data do not fill its shape", where_, prefix_, name);
  if (!a.data.empty()) std::memcpy(v.data(), a.data.data(), a.data.size());
}

template <class T>
const nlohmann::json& StateLoader<T>::value(const std::string& name) const {
  if (!c_.meta.contains(prefix_) || !c_.meta[prefix_].contains(name))
    fail("{}: the checkpoint lacks '{}' in '{}'", where_, name, prefix_);
  return c_.meta[prefix_][name];
}

template <class T>
void StateLoader<T>::number(const std::string& name, std::int64_t& v) {
  const nlohmann::json& j = value(name);
  if (!j.is_number_integer()) fail("{}: '{}{}' is not an integer", where_, prefix_, name);
  v = j.get<std::int64_t>();
}

template <class T>
void StateLoader<T>::number(const std::string& name, std::uint64_t& v) {
  const nlohmann::json& j = value(name);
  if (!j.is_number_unsigned()) fail("{}: '{}{}' is not an unsigned integer", where_, prefix_, name);
  v = j.get<std::uint64_t>();
}

template <class T>
void StateLoader<T>::real(const std::string& name, double& v) {
  const nlohmann::json& j = value(name);
  if (j.is_number()) {
    v = j.get<double>();
  } else if (j.is_string()) {
    const std::string t = j.get<std::string>();
    if (t == "nan") v = std::numeric_limits<double>::quiet_NaN();
    else if (t == "inf") v = std::numeric_limits<double>::infinity();
    else if (t == "-inf") v = -std::numeric_limits<double>::infinity();
    else fail("{}: '{}{}' is not a number", where_, prefix_, name);
  } else {
    fail("{}: '{}{}' is not a number", where_, prefix_, name);
  }
}

template <class T>
void StateLoader<T>::generator(const std::string& name, std::mt19937_64& g) {
  const nlohmann::json& j = value(name);
  if (!j.is_string()) fail("{}: '{}{}' is not a generator state", where_, prefix_, name);
  std::istringstream text(j.get<std::string>());
  text >> g;
  if (!text) fail("{}: '{}{}' is not a generator state", where_, prefix_, name);
}

template class StateSaver<float>;
template class StateSaver<double>;
template class StateLoader<float>;
template class StateLoader<double>;

template <class T>
nlohmann::json block_list(const Program<T>& prog) {
  nlohmann::json blocks = nlohmann::json::array();
  for (const auto& b : prog.param_blocks()) blocks.push_back({{"name", b.name}, {"offset", b.offset}, {"size", b.size}});
  return blocks;
}

template <class T>
void check_same_blocks(const Checkpoint& c, const Program<T>& prog, const std::string& where) {
  if (!c.meta.contains("blocks") || !c.meta["blocks"].is_array()) fail("{}: the checkpoint lists no parameter blocks", where);
  const auto& saved = c.meta["blocks"];
  const nlohmann::json mine = block_list(prog);
  for (size_t k = 0; k < std::max(saved.size(), mine.size()); ++k) {
    if (k >= saved.size())
      fail("{}: the checkpoint is of another model: it has no parameter block '{}'", where, mine[k]["name"].get<std::string>());
    if (k >= mine.size())
      fail("{}: the checkpoint is of another model: its parameter block '{}' is not in this one", where,
           saved[k].value("name", std::string("?")));
    if (saved[k] != mine[k])
      fail("{}: the checkpoint is of another model: its parameter block {} is {} ({} parameters), this model's is {} "
           "({} parameters)",
           where, k, saved[k].value("name", std::string("?")), saved[k].value("size", -1),
           mine[k]["name"].get<std::string>(), mine[k]["size"].get<int>());
  }
}

template nlohmann::json block_list<float>(const Program<float>&);
template nlohmann::json block_list<double>(const Program<double>&);
template void check_same_blocks<float>(const Checkpoint&, const Program<float>&, const std::string&);
template void check_same_blocks<double>(const Checkpoint&, const Program<double>&, const std::string&);

}  // namespace credo
