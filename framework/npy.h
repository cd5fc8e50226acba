// numpy's .npy and .npz file formats, written and read without numpy: arrays a researcher opens with np.load.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace credo::npy {

// One n-dimensional array as numpy stores it: a dtype (numpy's `descr`, e.g. "<f4", "<f8", "<i8"), a shape,
// the memory order, and the raw bytes of its elements.
//
// The .npy format (numpy's NEP 1): the magic string "\x93NUMPY", a major and a minor version byte, the header
// length (2 bytes little-endian in version 1.0, 4 in 2.0 and 3.0), and an ASCII (3.0: UTF-8) Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and a newline so the
// data starts at a multiple of 64 bytes; then the elements, C order (last index fastest) unless fortran_order.
struct Array {
  std::string dtype = "<f8";
  std::vector<std::int64_t> shape;  // empty: a scalar
  bool fortran_order = false;
  std::string data;  // elements() * itemsize() bytes

  std::int64_t elements() const;
  int itemsize() const;  // from dtype; 0 for a dtype credo does not know
  // The elements converted to double, in storage order (C order, or column-major when fortran_order). Every
  // real and integer dtype is converted; others are an InputError naming `where`.
  std::vector<double> to_doubles(const std::string& where) const;
};

// An array of `values` (float -> "<f4", double -> "<f8", std::int64_t -> "<i8") in storage order.
template <class T>
Array make_array(const T* values, std::vector<std::int64_t> shape, bool fortran_order = false);

// A whole .npy file's bytes.
std::string encode(const Array& a);
// Parses a .npy file's bytes; anything malformed or truncated is an InputError naming `where`.
Array decode(std::string_view bytes, const std::string& where);

// Just the header of a .npy file whose data will follow: for writing large arrays in pieces.
std::string header(const std::string& dtype, const std::vector<std::int64_t>& shape, bool fortran_order);

// .npz: a ZIP archive of .npy files, one per named array, as np.savez writes it (np.load(f)["name"]). Written
// uncompressed; reading accepts stored members (np.savez) and refuses compressed ones (np.savez_compressed)
// with a message saying so. ZIP64 members (numpy writes them) are read.
using Named = std::vector<std::pair<std::string, Array>>;
std::string encode_npz(const Named& arrays);
Named decode_npz(std::string_view bytes, const std::string& where);

// Files, written atomically. Reading: a missing or unreadable file is an InputError naming it.
void write_npy(const std::string& path, const Array& a);
void write_npz(const std::string& path, const Named& arrays);
Array read_npy(const std::string& path);
Named read_npz(const std::string& path);
// The whole content of a file, for the readers above; an InputError naming the file if it cannot be read.
std::string read_file(const std::string& path);

// A .npy file written piece by piece (an array too large to hold, filled as it is computed): the header first,
// then exactly the bytes the shape needs, appended in storage order. It goes to a temporary file beside `path`
// and replaces `path` on commit(); if never committed (an error part-way), the temporary file is removed.
class StreamWriter {
 public:
  StreamWriter(std::string path, const std::string& dtype, const std::vector<std::int64_t>& shape);
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;
  ~StreamWriter();
  void write(const void* bytes, std::size_t n);
  template <class T>
  void write(const T* values, std::size_t count) {
    write(static_cast<const void*>(values), count * sizeof(T));
  }
  // Checks that every byte was written, then renames the file into place.
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
  std::uint64_t expected_ = 0, written_ = 0;
};

// CRC-32 (ISO-HDLC, as ZIP uses), continued from `crc` (0 to start).
std::uint32_t crc32(std::string_view bytes, std::uint32_t crc = 0);

}  // namespace credo::npy
