// Result files: atomic writes (temporary file, then rename), output-folder checks, and process figures.
#pragma once

#include <string>

namespace credo {

// Creates `dir` if needed and checks a file can be written there; an InputError naming the folder otherwise.
void prepare_output_dir(const std::string& dir, const std::string& option = "--out");

// Writes `content` to a temporary file beside `path`, then renames it over `path`: readers never see a
// half-written file.
void write_atomic(const std::string& path, const std::string& content);

// The process's peak resident set size in MiB.
double peak_rss_mb();

}  // namespace credo
