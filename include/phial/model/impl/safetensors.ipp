// phial/model/impl/safetensors.ipp - safetensors parsing with Boost.JSON.
#pragma once
#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <boost/json.hpp>

#include <phial/model/safetensors.hpp>

namespace phial {

namespace detail {

// dtype -> (phial type, bytes per element); type is nullopt for dtypes phial does not load.
struct SafetensorsDtype {
  bool known;
  bool supported;
  TensorType type;
  std::uint64_t size;
};
inline SafetensorsDtype safetensors_dtype(std::string_view d) noexcept {
  if (d == "F32") return {true, true, TensorType::F32, 4};
  if (d == "F16") return {true, true, TensorType::F16, 2};
  if (d == "BF16") return {true, true, TensorType::BF16, 2};
  if (d == "F64" || d == "I64" || d == "U64") return {true, false, TensorType::F32, 8};
  if (d == "I32" || d == "U32") return {true, false, TensorType::F32, 4};
  if (d == "I16" || d == "U16") return {true, false, TensorType::F32, 2};
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return {true, false, TensorType::F32, 1};
  return {false, false, TensorType::F32, 0};
}

// Parses JSON text; FormatError names `file` and Boost's reason.
inline boost::json::value parse_json_or_throw(std::string_view text, const std::string& file) {
  boost::system::error_code ec;
  boost::json::parse_options opt;
  opt.max_depth = 64;
  boost::json::value v = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec, {}, opt);
  if (ec) throw FormatError(file + ": not valid JSON: " + ec.message());
  return v;
}

[[noreturn]] inline void st_fail(const std::string& file, const std::string& what) { throw FormatError(file + ": " + what); }

inline std::string read_text_file(const std::filesystem::path& p, std::size_t max_bytes = std::size_t{1} << 30) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw IoError(p.string() + ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max_bytes) throw FormatError(p.string() + ": file too large (" + std::to_string(s.size()) + " bytes)");
  return s;
}

}  // namespace detail

PHIAL_INLINE std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path, FileMemory mode, bool prefetch) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->name_ = path.string();
  f->file_ = MappedFile::open(path, mode, prefetch);
  f->bytes_ = f->file_.bytes();
  f->parse();
  return f;
}

PHIAL_INLINE std::unique_ptr<SafetensorsFile> SafetensorsFile::from_memory(std::span<const std::byte> bytes, std::string name) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->name_ = std::move(name);
  f->bytes_ = bytes;
  f->parse();
  return f;
}

PHIAL_INLINE void SafetensorsFile::parse() {
  namespace json = boost::json;
  if (bytes_.size() < 8) detail::st_fail(name_, "truncated: " + std::to_string(bytes_.size()) + " bytes, too short for the 8-byte header length");
  std::uint64_t n = 0;
  std::memcpy(&n, bytes_.data(), 8);
  constexpr std::uint64_t kMaxHeader = 100u << 20;  // the safetensors format's own limit
  if (n > kMaxHeader) detail::st_fail(name_, "header length " + std::to_string(n) + " exceeds the 100 MiB limit (not a safetensors file?)");
  if (n > bytes_.size() - 8)
    detail::st_fail(name_, "truncated: header length " + std::to_string(n) + " but only " + std::to_string(bytes_.size() - 8) + " bytes follow");
  if (n < 2 || static_cast<char>(bytes_[8]) != '{') detail::st_fail(name_, "not a safetensors file: the header must be a JSON object starting with '{'");
  data_offset_ = 8 + n;
  const std::uint64_t data_size = bytes_.size() - data_offset_;

  const std::string_view header(reinterpret_cast<const char*>(bytes_.data() + 8), static_cast<std::size_t>(n));
  const json::value root = detail::parse_json_or_throw(header, name_ + " (header)");
  if (!root.is_object()) detail::st_fail(name_, "header is not a JSON object");

  for (const auto& kv : root.as_object()) {
    const std::string key(kv.key());
    if (key == "__metadata__") {
      if (!kv.value().is_object()) detail::st_fail(name_, "\"__metadata__\" must be an object of strings");
      for (const auto& m : kv.value().as_object()) {
        if (!m.value().is_string()) detail::st_fail(name_, "\"__metadata__\" entry '" + std::string(m.key()) + "' must be a string");
        metadata_[std::string(m.key())] = std::string(m.value().as_string());
      }
      continue;
    }
    const std::string what = "tensor '" + key + "'";
    if (!kv.value().is_object()) detail::st_fail(name_, what + ": expected an object with dtype, shape, data_offsets");
    const auto& o = kv.value().as_object();
    const json::value* dt = o.if_contains("dtype");
    const json::value* sh = o.if_contains("shape");
    const json::value* off = o.if_contains("data_offsets");
    if (!dt || !dt->is_string()) detail::st_fail(name_, what + ": missing or non-string \"dtype\"");
    if (!sh || !sh->is_array()) detail::st_fail(name_, what + ": missing or non-array \"shape\"");
    if (!off || !off->is_array() || off->as_array().size() != 2) detail::st_fail(name_, what + ": \"data_offsets\" must be an array [begin, end]");

    SafetensorsTensor t;
    t.dtype = std::string(dt->as_string());
    const auto dtype = detail::safetensors_dtype(t.dtype);
    if (!dtype.known) detail::st_fail(name_, what + ": unknown dtype \"" + t.dtype + "\"");
    if (!dtype.supported) detail::st_fail(name_, what + ": dtype " + t.dtype + " is not supported (expected F32, F16 or BF16)");

    const auto& shape = sh->as_array();
    if (shape.size() > 4) detail::st_fail(name_, what + ": " + std::to_string(shape.size()) + " dimensions (phial supports at most 4)");
    // `span` multiplies the non-zero dimensions: with a zero among them the element count is 0,
    // but TensorView::rows() still multiplies the others, so they too must not overflow.
    std::uint64_t elements = 1, span = 1;
    for (const auto& d : shape) {
      if (!d.is_int64() && !d.is_uint64()) detail::st_fail(name_, what + ": shape entries must be non-negative integers");
      const std::int64_t v = d.is_int64() ? d.as_int64() : (d.as_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ? -1 : static_cast<std::int64_t>(d.as_uint64()));
      if (v < 0) detail::st_fail(name_, what + ": negative or huge dimension in shape");
      const auto uv = static_cast<std::uint64_t>(v);
      if (uv != 0 && span > (std::numeric_limits<std::uint64_t>::max() / 16) / uv) detail::st_fail(name_, what + ": shape overflows");
      elements *= uv;
      if (uv != 0) span *= uv;
      t.shape.push_back(v);
    }
    std::uint64_t offs[2];
    for (int k = 0; k < 2; ++k) {
      const auto& x = off->as_array()[static_cast<std::size_t>(k)];
      if (x.is_uint64()) offs[k] = x.as_uint64();
      else if (x.is_int64() && x.as_int64() >= 0) offs[k] = static_cast<std::uint64_t>(x.as_int64());
      else detail::st_fail(name_, what + ": data_offsets must be non-negative integers");
    }
    t.begin = offs[0];
    t.end = offs[1];
    if (t.begin > t.end) detail::st_fail(name_, what + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ") are reversed");
    if (t.end > data_size)
      detail::st_fail(name_, what + ": data_offsets end " + std::to_string(t.end) + " is past the end of the data (" + std::to_string(data_size) + " bytes): file truncated?");
    if (t.end - t.begin != elements * dtype.size)
      detail::st_fail(name_, what + ": data_offsets cover " + std::to_string(t.end - t.begin) + " bytes but shape x " + t.dtype + " needs " +
           std::to_string(elements * dtype.size));

    TensorView& v = t.view;
    v.name = key;
    v.type = dtype.type;
    v.n_dims = std::max<int>(1, static_cast<int>(t.shape.size()));
    for (std::size_t d = 0; d < t.shape.size(); ++d) v.ne[d] = t.shape[t.shape.size() - 1 - d];  // reverse: ggml order
    v.data = bytes_.data() + data_offset_ + t.begin;
    v.nbytes = static_cast<std::size_t>(t.end - t.begin);
    index_.emplace(key, tensors_.size());
    tensors_.push_back(std::move(t));
  }
  // No two tensors may share bytes.
  std::vector<const SafetensorsTensor*> sorted;
  for (const auto& t : tensors_) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (std::size_t k = 1; k < sorted.size(); ++k)
    if (sorted[k - 1]->end > sorted[k]->begin)
      detail::st_fail(name_, "tensors '" + sorted[k - 1]->view.name + "' and '" + sorted[k]->view.name + "' overlap (data_offsets " +
           std::to_string(sorted[k - 1]->begin) + ".." + std::to_string(sorted[k - 1]->end) + " and " + std::to_string(sorted[k]->begin) +
           ".." + std::to_string(sorted[k]->end) + ")");
}

PHIAL_INLINE const SafetensorsTensor* SafetensorsFile::find(std::string_view tensor_name) const noexcept {
  auto it = index_.find(std::string(tensor_name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

PHIAL_INLINE std::unique_ptr<SafetensorsSet> SafetensorsSet::open(const std::filesystem::path& path, FileMemory mode, bool prefetch) {
  namespace fs = std::filesystem;
  auto set = std::make_unique<SafetensorsSet>();
  std::error_code ec;
  fs::path index_path;
  std::vector<fs::path> shards;
  if (fs::is_directory(path, ec)) {
    set->dir_ = path;
    if (fs::exists(path / "model.safetensors.index.json", ec)) {
      index_path = path / "model.safetensors.index.json";
    } else if (fs::exists(path / "model.safetensors", ec)) {
      shards.push_back(path / "model.safetensors");
    } else {
      for (const auto& e : fs::directory_iterator(path, ec))
        if (e.path().extension() == ".safetensors") shards.push_back(e.path());
      if (shards.size() != 1)
        throw IoError(path.string() + ": expected model.safetensors.index.json or one *.safetensors file, found " +
                      std::to_string(shards.size()) + " .safetensors files");
    }
  } else if (path.extension() == ".json") {
    index_path = path;
    set->dir_ = path.parent_path();
  } else {
    shards.push_back(path);
    set->dir_ = path.parent_path();
  }

  // weight_map: tensor name -> shard file (relative to the directory)
  std::vector<std::pair<std::string, std::string>> weight_map;
  if (!index_path.empty()) {
    const std::string text = detail::read_text_file(index_path, std::size_t{256} << 20);
    const auto root = detail::parse_json_or_throw(text, index_path.string());
    const auto* wm = root.is_object() ? root.as_object().if_contains("weight_map") : nullptr;
    if (!wm || !wm->is_object()) throw FormatError(index_path.string() + ": missing \"weight_map\" object");
    std::set<std::string> seen;
    for (const auto& kv : wm->as_object()) {
      if (!kv.value().is_string()) throw FormatError(index_path.string() + ": weight_map entry '" + std::string(kv.key()) + "' must be a file name");
      const std::string file(kv.value().as_string());
      if (file.find('/') != std::string::npos || file.find('\\') != std::string::npos || file == ".." || file.empty())
        throw FormatError(index_path.string() + ": weight_map entry '" + std::string(kv.key()) + "' names '" + file +
                          "', expected a file in the same directory");
      weight_map.emplace_back(std::string(kv.key()), file);
      if (seen.insert(file).second) shards.push_back(set->dir_ / file);
    }
    if (shards.empty()) throw FormatError(index_path.string() + ": weight_map is empty");
  }

  for (const auto& s : shards) set->files_.push_back(SafetensorsFile::open(s, mode, prefetch));
  for (const auto& f : set->files_)
    for (const auto& t : f->tensors()) {
      if (set->index_.count(t.view.name))
        throw FormatError(f->name() + ": tensor '" + t.view.name + "' appears in more than one shard");
      set->index_.emplace(t.view.name, &t);
    }
  for (const auto& [tensor, file] : weight_map) {
    const auto* t = set->find(tensor);
    if (!t) throw FormatError(index_path.string() + ": tensor '" + tensor + "' is listed in weight_map (in " + file + ") but is in no shard");
    const fs::path expected = set->dir_ / file;
    bool in_expected = false;
    for (const auto& f : set->files_)
      if (f->name() == expected.string() && f->find(tensor)) in_expected = true;
    if (!in_expected) throw FormatError(index_path.string() + ": tensor '" + tensor + "' is listed in " + file + " but found in another shard");
  }
  return set;
}

PHIAL_INLINE const SafetensorsTensor* SafetensorsSet::find(std::string_view tensor_name) const noexcept {
  auto it = index_.find(std::string(tensor_name));
  return it == index_.end() ? nullptr : it->second;
}

PHIAL_INLINE std::vector<const SafetensorsTensor*> SafetensorsSet::tensors() const {
  std::vector<const SafetensorsTensor*> out;
  for (const auto& f : files_)
    for (const auto& t : f->tensors()) out.push_back(&t);
  return out;
}

}  // namespace phial
