// phial/model/impl/gguf_writer.ipp - GGUF serialization.
#pragma once
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <phial/model/gguf_writer.hpp>

namespace phial {

PHIAL_INLINE void GgufWriter::add_i32s(std::string key, const std::vector<std::int32_t>& v) {
  std::vector<std::byte> raw(v.size() * 4);
  if (!v.empty()) std::memcpy(raw.data(), v.data(), raw.size());
  add(std::move(key), GgufValue::make_scalar_array(GgufType::int32, std::move(raw), v.size()));
}

PHIAL_INLINE void GgufWriter::add_f32s(std::string key, const std::vector<float>& v) {
  std::vector<std::byte> raw(v.size() * 4);
  if (!v.empty()) std::memcpy(raw.data(), v.data(), raw.size());
  add(std::move(key), GgufValue::make_scalar_array(GgufType::float32, std::move(raw), v.size()));
}

PHIAL_INLINE void GgufWriter::add_tensor(std::string name, TensorType type, std::vector<std::int64_t> ne, Fill fill) {
  Tensor t;
  t.name = std::move(name);
  t.type = static_cast<std::uint32_t>(type);
  std::int64_t rows = 1;
  for (std::size_t d = 0; d < ne.size(); ++d) {
    t.ne.push_back(static_cast<std::uint64_t>(ne[d]));
    if (d > 0) rows *= ne[d];
  }
  if (ne.empty() || ne[0] % tensor_type_info(type).block_elems != 0)
    throw InvalidArgument("GgufWriter: tensor '" + t.name + "': row length is not a multiple of the block size");
  t.nbytes = static_cast<std::uint64_t>(row_bytes(type, ne[0]) * rows);
  t.fill = std::move(fill);
  tensors_.push_back(std::move(t));
}

PHIAL_INLINE void GgufWriter::add_tensor_data(std::string name, TensorType type, std::vector<std::int64_t> ne, std::span<const std::byte> data) {
  add_tensor(std::move(name), type, std::move(ne), [data](std::span<std::byte> dst) {
    if (dst.size() != data.size()) throw InvalidArgument("GgufWriter: tensor data size does not match its shape");
    std::memcpy(dst.data(), data.data(), data.size());
  });
  if (tensors_.back().nbytes != data.size())
    throw InvalidArgument("GgufWriter: tensor '" + tensors_.back().name + "': " + std::to_string(data.size()) + " bytes given, shape needs " +
                          std::to_string(tensors_.back().nbytes));
}

namespace detail {

template <class Sink>
void gguf_put(Sink& sink, const void* p, std::size_t n) {
  sink(static_cast<const std::byte*>(p), n);
}
template <class Sink, class T>
void gguf_put_pod(Sink& sink, T v) {
  gguf_put(sink, &v, sizeof v);
}
template <class Sink>
void gguf_put_string(Sink& sink, const std::string& s) {
  gguf_put_pod<Sink, std::uint64_t>(sink, s.size());
  gguf_put(sink, s.data(), s.size());
}

template <class Sink>
void gguf_put_value(Sink& sink, const GgufValue& v, bool with_type) {
  if (with_type) gguf_put_pod<Sink, std::uint32_t>(sink, static_cast<std::uint32_t>(v.type()));
  switch (v.type()) {
    case GgufType::uint8: gguf_put_pod<Sink, std::uint8_t>(sink, static_cast<std::uint8_t>(v.as_uint())); break;
    case GgufType::int8: gguf_put_pod<Sink, std::int8_t>(sink, static_cast<std::int8_t>(v.as_int())); break;
    case GgufType::uint16: gguf_put_pod<Sink, std::uint16_t>(sink, static_cast<std::uint16_t>(v.as_uint())); break;
    case GgufType::int16: gguf_put_pod<Sink, std::int16_t>(sink, static_cast<std::int16_t>(v.as_int())); break;
    case GgufType::uint32: gguf_put_pod<Sink, std::uint32_t>(sink, static_cast<std::uint32_t>(v.as_uint())); break;
    case GgufType::int32: gguf_put_pod<Sink, std::int32_t>(sink, static_cast<std::int32_t>(v.as_int())); break;
    case GgufType::uint64: gguf_put_pod<Sink, std::uint64_t>(sink, v.as_uint()); break;
    case GgufType::int64: gguf_put_pod<Sink, std::int64_t>(sink, v.as_int()); break;
    case GgufType::float32: gguf_put_pod<Sink, float>(sink, static_cast<float>(v.as_float())); break;
    case GgufType::float64: gguf_put_pod<Sink, double>(sink, v.as_float()); break;
    case GgufType::boolean: gguf_put_pod<Sink, std::uint8_t>(sink, v.as_bool() ? 1 : 0); break;
    case GgufType::string: gguf_put_string(sink, v.as_string()); break;
    case GgufType::array: {
      gguf_put_pod<Sink, std::uint32_t>(sink, static_cast<std::uint32_t>(v.array_type()));
      gguf_put_pod<Sink, std::uint64_t>(sink, v.array_size());
      if (v.array_type() == GgufType::string) {
        for (const auto& s : v.as_strings()) gguf_put_string(sink, s);
      } else {
        for (std::size_t i = 0; i < v.array_size(); ++i) gguf_put_value(sink, v.at(i), false);
      }
      break;
    }
  }
}

}  // namespace detail

template <class Sink>
void GgufWriter::emit(Sink&& sink, const Progress& progress) const {
  using namespace detail;
  std::uint64_t written = 0;
  auto put = [&](const std::byte* p, std::size_t n) {
    sink(p, n);
    written += n;
  };
  auto pad_to = [&](std::uint64_t align) {
    static const std::byte zeros[64] = {};
    while (written % align != 0) put(zeros, static_cast<std::size_t>(std::min<std::uint64_t>(64, align - written % align)));
  };
  const bool write_alignment = alignment_ != 32;
  gguf_put(put, "GGUF", 4);
  gguf_put_pod<decltype(put), std::uint32_t>(put, version_);
  gguf_put_pod<decltype(put), std::uint64_t>(put, tensors_.size());
  gguf_put_pod<decltype(put), std::uint64_t>(put, kv_.size() + (write_alignment ? 1 : 0));
  if (write_alignment) {
    gguf_put_string(put, std::string("general.alignment"));
    gguf_put_value(put, GgufValue::make_uint(GgufType::uint32, alignment_), true);
  }
  for (const auto& [k, v] : kv_) {
    gguf_put_string(put, k);
    gguf_put_value(put, v, true);
  }
  // tensor infos: data offsets are laid out in order, each aligned
  std::uint64_t offset = 0;
  std::vector<std::uint64_t> offsets;
  for (const auto& t : tensors_) {
    offsets.push_back(offset);
    gguf_put_string(put, t.name);
    gguf_put_pod<decltype(put), std::uint32_t>(put, static_cast<std::uint32_t>(t.ne.size()));
    for (auto d : t.ne) gguf_put_pod<decltype(put), std::uint64_t>(put, d);
    gguf_put_pod<decltype(put), std::uint32_t>(put, t.type);
    gguf_put_pod<decltype(put), std::uint64_t>(put, t.offset_override.value_or(offset));
    offset += (t.nbytes + alignment_ - 1) / alignment_ * alignment_;
  }
  pad_to(alignment_);
  std::vector<std::byte> buf;
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    if (progress) progress(i, tensors_.size(), t.name);
    buf.assign(static_cast<std::size_t>(t.nbytes), std::byte{0});
    if (t.fill) t.fill(std::span<std::byte>(buf));
    put(buf.data(), buf.size());
    if (i + 1 < tensors_.size()) pad_to(alignment_);
  }
  if (progress) progress(tensors_.size(), tensors_.size(), "");
}

PHIAL_INLINE void GgufWriter::write(const std::filesystem::path& path, const Progress& progress) const {
  const std::filesystem::path tmp = path.string() + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw IoError(tmp.string() + ": cannot create: " + std::strerror(errno));
  try {
    emit(
        [&](const std::byte* p, std::size_t n) {
          if (n && std::fwrite(p, 1, n, f) != n) throw IoError(tmp.string() + ": write failed: " + std::strerror(errno));
        },
        progress);
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  if (std::fclose(f) != 0) {
    std::remove(tmp.c_str());
    throw IoError(tmp.string() + ": close failed: " + std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw IoError(path.string() + ": cannot rename from " + tmp.string() + ": " + ec.message());
}

PHIAL_INLINE std::vector<std::byte> GgufWriter::to_bytes() const {
  std::vector<std::byte> out;
  emit([&](const std::byte* p, std::size_t n) { out.insert(out.end(), p, p + n); }, {});
  return out;
}

}  // namespace phial
