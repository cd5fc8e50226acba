#include "framework/npy.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "framework/error.h"
#include "framework/results.h"

namespace credo::npy {

static_assert(std::endian::native == std::endian::little, "credo writes little-endian arrays from memory");

namespace {

// Byte order, kind ('f', 'i', 'u', 'b') and size of a dtype such as "<f4"; false if it is not one of these.
struct Dtype {
  char order = '<';
  char kind = 'f';
  int size = 0;
};

bool parse_dtype(const std::string& d, Dtype& out) {
  if (d.size() < 3) return false;
  out.order = d[0];
  out.kind = d[1];
  if (out.order != '<' && out.order != '>' && out.order != '|' && out.order != '=') return false;
  if (out.kind != 'f' && out.kind != 'i' && out.kind != 'u' && out.kind != 'b') return false;
  const std::string digits = d.substr(2);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return false;
  out.size = std::stoi(digits);
  if (out.kind == 'f') return out.size == 4 || out.size == 8;
  if (out.kind == 'b') return out.size == 1;
  return out.size == 1 || out.size == 2 || out.size == 4 || out.size == 8;
}

template <class U>
U load(const char* p, bool swap) {
  U v;
  std::memcpy(&v, p, sizeof(U));
  if (swap) {
    char b[sizeof(U)];
    std::memcpy(b, &v, sizeof(U));
    std::reverse(b, b + sizeof(U));
    std::memcpy(&v, b, sizeof(U));
  }
  return v;
}

// A reader over the Python dict literal of a .npy header.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& where) : s_(text), where_(where) {}

  Array parse() {
    Array a;
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip();
      if (peek() == '}') break;
      const std::string key = string_literal();
      expect(':');
      skip();
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"')
          fail("{}: a structured array (descr is a list); credo reads plain numeric arrays", where_);
        a.dtype = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        a.fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        a.shape = tuple();
        have_shape = true;
      } else {
        fail("{}: unexpected key '{}' in the .npy header", where_, key);
      }
      skip();
      if (peek() == ',') ++i_;
      else if (peek() != '}') bad("',' or '}'");
    }
    if (!have_descr || !have_order || !have_shape)
      fail("{}: the .npy header lacks '{}'", where_, !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    return a;
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  [[noreturn]] void bad(const char* wanted) const {
    fail("{}: malformed .npy header (expected {} at character {} of '{}')", where_, wanted, i_, std::string(s_));
  }
  void expect(char c) {
    skip();
    if (peek() != c) bad(fmt::format("'{}'", c).c_str());
    ++i_;
  }
  std::string string_literal() {
    skip();
    const char q = peek();
    if (q != '\'' && q != '"') bad("a quoted string");
    const auto end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) bad("a closing quote");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.substr(i_, 4) == "True") return i_ += 4, true;
    if (s_.substr(i_, 5) == "False") return i_ += 5, false;
    bad("True or False");
  }
  std::vector<std::int64_t> tuple() {
    expect('(');
    std::vector<std::int64_t> out;
    while (true) {
      skip();
      if (peek() == ')') break;
      const size_t start = i_;
      while (std::isdigit(static_cast<unsigned char>(peek()))) ++i_;
      if (i_ == start) bad("a non-negative integer");
      const std::string digits(s_.substr(start, i_ - start));
      if (digits.size() > 18) fail("{}: the .npy shape holds a dimension too large ({})", where_, digits);
      out.push_back(std::stoll(digits));
      if (peek() == 'L') ++i_;  // written by Python 2
      skip();
      if (peek() == ',') ++i_;
      else if (peek() != ')') bad("',' or ')'");
    }
    ++i_;
    return out;
  }

  std::string_view s_;
  std::string where_;
  size_t i_ = 0;
};

void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>(v >> 8);
}
void put32(std::string& out, std::uint32_t v) {
  for (int k = 0; k < 4; ++k) out += static_cast<char>((v >> (8 * k)) & 0xff);
}
std::uint16_t get16(std::string_view b, size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(b[at]) | (static_cast<unsigned char>(b[at + 1]) << 8));
}
std::uint32_t get32(std::string_view b, size_t at) {
  std::uint32_t v = 0;
  for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(b[at + k]);
  return v;
}
std::uint64_t get64(std::string_view b, size_t at) {
  return static_cast<std::uint64_t>(get32(b, at)) | (static_cast<std::uint64_t>(get32(b, at + 4)) << 32);
}

const std::array<std::uint32_t, 256>& crc_table() {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  return table;
}

}  // namespace

std::uint32_t crc32(std::string_view bytes, std::uint32_t crc) {
  const auto& t = crc_table();
  crc = ~crc;
  for (char ch : bytes) crc = t[(crc ^ static_cast<unsigned char>(ch)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::int64_t Array::elements() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

int Array::itemsize() const {
  Dtype d;
  return parse_dtype(dtype, d) ? d.size : 0;
}

std::vector<double> Array::to_doubles(const std::string& where) const {
  Dtype d;
  if (!parse_dtype(dtype, d))
    fail("{}: dtype '{}' is not a real or integer number type (credo reads float32/64, int, uint and bool)", where,
         dtype);
  const bool swap = d.order == '>' && d.size > 1;
  const std::int64_t n = elements();
  if (static_cast<std::int64_t>(data.size()) != n * d.size)
    fail("{}: {} bytes of data for {} elements of {}", where, data.size(), n, dtype);
  std::vector<double> out(static_cast<size_t>(n));
  const char* p = data.data();
  for (std::int64_t k = 0; k < n; ++k, p += d.size) {
    double v = 0;
    switch (d.kind) {
      case 'f': v = d.size == 4 ? load<float>(p, swap) : load<double>(p, swap); break;
      case 'b': v = *p != 0; break;
      case 'i':
        v = d.size == 1 ? load<std::int8_t>(p, swap)
            : d.size == 2 ? load<std::int16_t>(p, swap)
            : d.size == 4 ? load<std::int32_t>(p, swap)
                          : static_cast<double>(load<std::int64_t>(p, swap));
        break;
      default:
        v = d.size == 1 ? load<std::uint8_t>(p, swap)
            : d.size == 2 ? load<std::uint16_t>(p, swap)
            : d.size == 4 ? load<std::uint32_t>(p, swap)
                          : static_cast<double>(load<std::uint64_t>(p, swap));
    }
    out[static_cast<size_t>(k)] = v;
  }
  return out;
}

template <class T>
Array make_array(const T* values, std::vector<std::int64_t> shape, bool fortran_order) {
  Array a;
  if constexpr (std::is_same_v<T, float>) a.dtype = "<f4";
  else if constexpr (std::is_same_v<T, double>) a.dtype = "<f8";
  else {
    static_assert(std::is_same_v<T, std::int64_t>, "make_array: float, double or std::int64_t");
    a.dtype = "<i8";
  }
  a.shape = std::move(shape);
  a.fortran_order = fortran_order;
  const auto bytes = static_cast<size_t>(a.elements()) * sizeof(T);
  if (bytes > 0) a.data.assign(reinterpret_cast<const char*>(values), bytes);
  return a;
}

template Array make_array<float>(const float*, std::vector<std::int64_t>, bool);
template Array make_array<double>(const double*, std::vector<std::int64_t>, bool);
template Array make_array<std::int64_t>(const std::int64_t*, std::vector<std::int64_t>, bool);

std::string header(const std::string& dtype, const std::vector<std::int64_t>& shape, bool fortran_order) {
  std::string dims;
  for (auto d : shape) dims += fmt::format("{}, ", d);
  if (shape.size() > 1) dims.resize(dims.size() - 2);   // (3, 4); a 1-tuple keeps its comma: (3,)
  else if (shape.size() == 1) dims.pop_back();
  std::string dict =
      fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': ({}), }}", dtype, fortran_order ? "True" : "False", dims);
  // Pad with spaces so the data starts at a multiple of 64 bytes; the header ends with a newline. Version 1.0
  // has a 2-byte header length, 2.0 a 4-byte one for headers above 65535 bytes.
  auto padded = [&](size_t fixed) { return (fixed + dict.size() + 1 + 63) / 64 * 64 - fixed; };
  size_t len = padded(10);
  const bool v2 = len > 65535;
  if (v2) len = padded(12);
  dict.append(len - dict.size() - 1, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(v2 ? 2 : 1);
  out += static_cast<char>(0);
  if (v2) put32(out, static_cast<std::uint32_t>(dict.size()));
  else put16(out, static_cast<std::uint16_t>(dict.size()));
  return out + dict;
}

std::string encode(const Array& a) {
  if (a.itemsize() == 0) throw std::logic_error(fmt::format("npy::encode: unknown dtype '{}'", a.dtype));
  if (static_cast<std::int64_t>(a.data.size()) != a.elements() * a.itemsize())
    throw std::logic_error("npy::encode: data size does not match the shape");
  return header(a.dtype, a.shape, a.fortran_order) + a.data;
}

Array decode(std::string_view b, const std::string& where) {
  if (b.size() < 10 || b.substr(0, 6) != std::string_view("\x93NUMPY", 6))
    fail("{}: not a .npy file (it does not start with numpy's magic string)", where);
  const int major = static_cast<unsigned char>(b[6]);
  if (major < 1 || major > 3) fail("{}: .npy format version {} (credo reads 1.0, 2.0 and 3.0)", where, major);
  size_t len = 0, start = 0;
  if (major == 1) {
    len = get16(b, 8), start = 10;
  } else {
    if (b.size() < 12) fail("{}: truncated .npy header", where);
    len = get32(b, 8), start = 12;
  }
  if (b.size() < start + len) fail("{}: truncated .npy header ({} bytes, the header says {})", where, b.size(), start + len);
  Array a = HeaderParser(b.substr(start, len), where).parse();
  for (auto d : a.shape)
    if (d < 0) fail("{}: negative dimension in the .npy shape", where);
  const int item = a.itemsize();
  if (item == 0)
    fail("{}: dtype '{}' is not a real or integer number type (credo reads float32/64, int, uint and bool)", where,
         a.dtype);
  std::int64_t n = 1;
  for (auto d : a.shape)
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / 16 / d)
      fail("{}: the .npy shape is implausibly large", where);
    else
      n *= d;
  const auto want = static_cast<size_t>(n * item);
  const size_t have = b.size() - start - len;
  if (have < want) fail("{}: truncated .npy data ({} bytes, the shape needs {})", where, have, want);
  if (have > want) fail("{}: {} bytes after the .npy data, which should end there", where, have - want);
  a.data.assign(b.substr(start + len));
  return a;
}

std::string encode_npz(const Named& arrays) {
  std::string out, central;
  std::vector<std::string> names;
  for (const auto& [name, a] : arrays) {
    const std::string file = name + ".npy";
    if (name.empty()) throw std::logic_error("npz: an array without a name");
    if (std::find(names.begin(), names.end(), name) != names.end())
      throw std::logic_error(fmt::format("npz: two arrays named '{}'", name));
    names.push_back(name);
    const std::string bytes = encode(a);
    if (bytes.size() >= 0xFFFFFFFFu || out.size() >= 0xFFFFFFFFu)
      fail("{}: an .npz archive above 4 GiB; write .npy files instead", name);
    const std::uint32_t crc = crc32(bytes);
    const auto offset = static_cast<std::uint32_t>(out.size());
    // Local file header: stored (method 0), no data descriptor; DOS date 1980-01-01 00:00.
    auto common = [&](std::string& h) {
      put16(h, 20);  // version needed: 2.0
      put16(h, 0);   // flags
      put16(h, 0);   // method: stored
      put16(h, 0);   // time
      put16(h, 0x21);  // date
      put32(h, crc);
      put32(h, static_cast<std::uint32_t>(bytes.size()));
      put32(h, static_cast<std::uint32_t>(bytes.size()));
      put16(h, static_cast<std::uint16_t>(file.size()));
      put16(h, 0);  // extra length
    };
    put32(out, 0x04034b50);
    common(out);
    out += file;
    out += bytes;
    put32(central, 0x02014b50);
    put16(central, 20);  // made by: 2.0
    common(central);
    put16(central, 0);  // comment length
    put16(central, 0);  // disk
    put16(central, 0);  // internal attributes
    put32(central, 0);  // external attributes
    put32(central, offset);
    central += file;
  }
  if (arrays.size() > 0xFFFF) fail("an .npz archive of more than 65535 arrays");
  const auto cd_offset = static_cast<std::uint32_t>(out.size());
  out += central;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<std::uint16_t>(arrays.size()));
  put16(out, static_cast<std::uint16_t>(arrays.size()));
  put32(out, static_cast<std::uint32_t>(central.size()));
  put32(out, cd_offset);
  put16(out, 0);
  return out;
}

Named decode_npz(std::string_view b, const std::string& where) {
  auto need = [&](size_t at, size_t n) {
    if (at + n > b.size() || at + n < at) fail("{}: truncated or corrupt .npz (a ZIP record runs past the end)", where);
  };
  // End of central directory: 22 bytes plus a comment of up to 65535.
  if (b.size() < 22) fail("{}: not an .npz file (too short to be a ZIP archive)", where);
  size_t eocd = std::string_view::npos;
  const size_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
  for (size_t at = b.size() - 22 + 1; at-- > lowest;)
    if (get32(b, at) == 0x06054b50) {
      eocd = at;
      break;
    }
  if (eocd == std::string_view::npos) fail("{}: not an .npz file (no ZIP central directory)", where);
  std::uint64_t count = get16(b, eocd + 10);
  std::uint64_t cd_offset = get32(b, eocd + 16);
  if ((count == 0xFFFF || cd_offset == 0xFFFFFFFFu) && eocd >= 20 && get32(b, eocd - 20) == 0x07064b50) {
    const std::uint64_t z64 = get64(b, eocd - 20 + 8);
    need(static_cast<size_t>(z64), 56);
    if (get32(b, static_cast<size_t>(z64)) != 0x06064b50) fail("{}: corrupt ZIP64 end record", where);
    count = get64(b, static_cast<size_t>(z64) + 32);
    cd_offset = get64(b, static_cast<size_t>(z64) + 48);
  }
  Named out;
  size_t at = static_cast<size_t>(cd_offset);
  for (std::uint64_t k = 0; k < count; ++k) {
    need(at, 46);
    if (get32(b, at) != 0x02014b50) fail("{}: corrupt .npz (bad central directory entry {})", where, k);
    const int flags = get16(b, at + 8);
    const int method = get16(b, at + 10);
    const std::uint32_t crc = get32(b, at + 16);
    std::uint64_t csize = get32(b, at + 20), usize = get32(b, at + 24);
    const size_t name_len = get16(b, at + 28), extra_len = get16(b, at + 30), comment_len = get16(b, at + 32);
    std::uint64_t local = get32(b, at + 42);
    need(at + 46, name_len + extra_len + comment_len);
    const std::string file(b.substr(at + 46, name_len));
    // ZIP64 extra field: the 64-bit values of whichever fields hold 0xFFFFFFFF, in this order.
    for (size_t e = at + 46 + name_len; e + 4 <= at + 46 + name_len + extra_len;) {
      const int id = get16(b, e), size = get16(b, e + 2);
      size_t v = e + 4;
      if (id == 0x0001) {
        if (usize == 0xFFFFFFFFu && v + 8 <= e + 4 + size) usize = get64(b, v), v += 8;
        if (csize == 0xFFFFFFFFu && v + 8 <= e + 4 + size) csize = get64(b, v), v += 8;
        if (local == 0xFFFFFFFFu && v + 8 <= e + 4 + size) local = get64(b, v), v += 8;
      }
      e += 4 + static_cast<size_t>(size);
    }
    at += 46 + name_len + extra_len + comment_len;
    if (method == 8)
      fail("{}: member '{}' is compressed (np.savez_compressed); credo reads uncompressed archives: save with np.savez",
           where, file);
    if (method != 0) fail("{}: member '{}' uses ZIP compression method {}; save with np.savez", where, file, method);
    if (flags & 1) fail("{}: member '{}' is encrypted", where, file);
    if (csize != usize) fail("{}: member '{}' is stored but its sizes differ", where, file);
    need(static_cast<size_t>(local), 30);
    if (get32(b, static_cast<size_t>(local)) != 0x04034b50) fail("{}: corrupt .npz (bad local header of '{}')", where, file);
    const size_t data = static_cast<size_t>(local) + 30 + get16(b, static_cast<size_t>(local) + 26) +
                        get16(b, static_cast<size_t>(local) + 28);
    need(data, static_cast<size_t>(usize));
    const std::string_view bytes = b.substr(data, static_cast<size_t>(usize));
    if (crc32(bytes) != crc) fail("{}: member '{}' is corrupt (CRC-32 mismatch)", where, file);
    if (file.size() < 5 || file.substr(file.size() - 4) != ".npy")
      fail("{}: member '{}' is not an .npy file", where, file);
    const std::string name = file.substr(0, file.size() - 4);
    out.emplace_back(name, decode(bytes, fmt::format("{} ['{}']", where, name)));
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the file", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("{}: read error", path);
  return ss.str();
}

StreamWriter::StreamWriter(std::string path, const std::string& dtype, const std::vector<std::int64_t>& shape)
    : path_(std::move(path)), tmp_(path_ + ".tmp" + std::to_string(::getpid())) {
  Dtype d;
  if (!parse_dtype(dtype, d)) throw std::logic_error(fmt::format("npy::StreamWriter: unknown dtype '{}'", dtype));
  expected_ = static_cast<std::uint64_t>(d.size);
  for (auto n : shape) expected_ *= static_cast<std::uint64_t>(n);
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_) fail("{}: cannot write", tmp_);
  const std::string h = header(dtype, shape, false);
  if (std::fwrite(h.data(), 1, h.size(), file_) != h.size()) {
    std::fclose(file_);
    file_ = nullptr;
    std::remove(tmp_.c_str());
    fail("{}: write failed (disk full?)", tmp_);
  }
}

StreamWriter::~StreamWriter() {
  if (file_) {
    std::fclose(file_);
    std::remove(tmp_.c_str());
  }
}

void StreamWriter::write(const void* bytes, std::size_t n) {
  if (!file_) throw std::logic_error("npy::StreamWriter: write after commit");
  if (written_ + n > expected_)
    throw std::logic_error(fmt::format("npy::StreamWriter: {} bytes beyond the shape of {}", written_ + n - expected_, path_));
  if (std::fwrite(bytes, 1, n, file_) != n) fail("{}: write failed (disk full?)", tmp_);
  written_ += n;
}

void StreamWriter::commit() {
  if (!file_) throw std::logic_error("npy::StreamWriter: committed twice");
  if (written_ != expected_)
    throw std::logic_error(fmt::format("npy::StreamWriter: {} of {} bytes written to {}", written_, expected_, path_));
  const bool ok = std::fflush(file_) == 0;
  std::fclose(file_);
  file_ = nullptr;
  if (!ok) {
    std::remove(tmp_.c_str());
    fail("{}: write failed (disk full?)", tmp_);
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    std::remove(tmp_.c_str());
    fail("{}: cannot replace the file", path_);
  }
}

void write_npy(const std::string& path, const Array& a) { write_atomic(path, encode(a)); }
void write_npz(const std::string& path, const Named& arrays) { write_atomic(path, encode_npz(arrays)); }
Array read_npy(const std::string& path) { return decode(read_file(path), path); }
Named read_npz(const std::string& path) { return decode_npz(read_file(path), path); }

}  // namespace credo::npy
