// tests/support/model_writers.hpp - helpers for the model-file tests: a safetensors writer, a
// way to re-emit a GGUF through phial::GgufWriter with edits, temp directories, file I/O.
#pragma once
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include <phial/model/gguf.hpp>
#include <phial/model/gguf_writer.hpp>

namespace phial::test {

inline std::filesystem::path golden_dir(const std::string& model) {
  return std::filesystem::path(PHIAL_TEST_DATA_DIR) / "golden" / model;
}

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "phial-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::vector<std::byte> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> v((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(v.size());
  if (!v.empty()) std::memcpy(out.data(), v.data(), v.size());
  return out;
}
inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
inline void write_bytes(const std::filesystem::path& p, const std::vector<std::byte>& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
inline void write_text(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

// Writes safetensors files: tensors in insertion order, packed back to back.
class SafetensorsWriter {
 public:
  struct Tensor {
    std::string name, dtype;
    std::vector<std::int64_t> shape;  // outermost first (PyTorch order)
    std::vector<std::byte> data;
  };
  void add(std::string name, std::string dtype, std::vector<std::int64_t> shape, std::vector<std::byte> data) {
    tensors.push_back({std::move(name), std::move(dtype), std::move(shape), std::move(data)});
  }
  std::vector<Tensor> tensors;
  std::map<std::string, std::string> metadata;
  // tests: replace the generated header JSON with arbitrary text, or patch data_offsets
  std::optional<std::string> header_override;
  std::function<void(boost::json::object&)> edit_header;

  std::string header() const {
    boost::json::object h;
    if (!metadata.empty()) {
      boost::json::object m;
      for (const auto& [k, v] : metadata) m[k] = v;
      h["__metadata__"] = m;
    }
    std::uint64_t off = 0;
    for (const auto& t : tensors) {
      boost::json::object o;
      o["dtype"] = t.dtype;
      boost::json::array shape;
      for (auto d : t.shape) shape.push_back(d);
      o["shape"] = shape;
      o["data_offsets"] = boost::json::array{off, off + t.data.size()};
      off += t.data.size();
      h[t.name] = o;
    }
    if (edit_header) edit_header(h);
    return header_override ? *header_override : boost::json::serialize(h);
  }
  std::vector<std::byte> to_bytes() const {
    std::string hdr = header();
    while (hdr.size() % 8 != 0) hdr += ' ';  // the reference writer pads the header to 8 bytes
    std::vector<std::byte> out(8 + hdr.size());
    const std::uint64_t n = hdr.size();
    std::memcpy(out.data(), &n, 8);
    std::memcpy(out.data() + 8, hdr.data(), hdr.size());
    for (const auto& t : tensors) out.insert(out.end(), t.data.begin(), t.data.end());
    return out;
  }
  void write(const std::filesystem::path& p) const { write_bytes(p, to_bytes()); }
};

// Re-emits a parsed GGUF through GgufWriter (metadata in order, tensors copied from the mapping),
// letting the caller edit / drop metadata entries and tensors on the way.
struct GgufCopyEdits {
  std::function<bool(std::string& key, GgufValue& value)> keep_kv;    // return false to drop
  std::function<bool(GgufWriter::Tensor& t)> keep_tensor;            // return false to drop
};
inline GgufWriter copy_gguf(const GgufFile& g, const GgufCopyEdits& edits = {}) {
  GgufWriter w(static_cast<std::uint32_t>(g.alignment()));
  for (const auto& [k0, v0] : g.metadata()) {
    std::string k = k0;
    GgufValue v = v0;
    if (k == "general.alignment") continue;  // the writer adds it
    if (edits.keep_kv && !edits.keep_kv(k, v)) continue;
    w.add(std::move(k), std::move(v));
  }
  for (const auto& ti : g.tensors()) {
    GgufWriter::Tensor t;
    t.name = ti.view.name;
    t.type = static_cast<std::uint32_t>(ti.view.type);
    for (int d = 0; d < ti.view.n_dims; ++d) t.ne.push_back(static_cast<std::uint64_t>(ti.view.ne[static_cast<std::size_t>(d)]));
    t.nbytes = ti.view.nbytes;
    const std::byte* src = ti.view.data;
    const std::size_t n = ti.view.nbytes;
    t.fill = [src, n](std::span<std::byte> dst) { std::memcpy(dst.data(), src, std::min(n, dst.size())); };
    if (edits.keep_tensor && !edits.keep_tensor(t)) continue;
    w.add_raw_tensor(std::move(t));
  }
  return w;
}

// Copies a Hugging Face directory's safetensors into a SafetensorsWriter (for edits).
inline SafetensorsWriter copy_safetensors(const std::filesystem::path& file, std::function<bool(SafetensorsWriter::Tensor&)> keep = {}) {
  const auto bytes = read_bytes(file);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  const auto root = boost::json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data() + 8), n));
  SafetensorsWriter w;
  for (const auto& kv : root.as_object()) {
    if (kv.key() == "__metadata__") continue;
    const auto& o = kv.value().as_object();
    SafetensorsWriter::Tensor t;
    t.name = std::string(kv.key());
    t.dtype = std::string(o.at("dtype").as_string());
    for (const auto& d : o.at("shape").as_array()) t.shape.push_back(d.to_number<std::int64_t>());
    const auto b = o.at("data_offsets").as_array()[0].to_number<std::uint64_t>();
    const auto e = o.at("data_offsets").as_array()[1].to_number<std::uint64_t>();
    t.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(8 + n + b), bytes.begin() + static_cast<std::ptrdiff_t>(8 + n + e));
    if (keep && !keep(t)) continue;
    w.tensors.push_back(std::move(t));
  }
  return w;
}

}  // namespace phial::test
