// cmd_random_model.cpp - `phial random-model`: writes a full-size random-weight GGUF with the real
// shapes of Phi-4-mini (3.8B, vocab 200064) or Phi-4 (14B, vocab 100352), for benchmarking without
// the real weights (phial bench, llama.cpp).
//
// Weights are random blocks written directly in the requested type (random codes, small f16 scales),
// so no quantizer runs and even the 14B model is written at disk speed. The values are meaningless;
// the bytes per token, shapes and formats are those of the real model. The tokenizer metadata is
// copied from a small GGUF (e.g. the golden test models) and padded with placeholder tokens to the
// real vocabulary size, so llama.cpp and phial both load the file.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <phial/error.hpp>
#include <phial/model/gguf.hpp>
#include <phial/model/tensor.hpp>

#include "cli.hpp"

namespace {

constexpr const char* kUsage =
    "phial random-model --shape phi4-mini|phi4 --type TYPE --tokenizer-from GGUF --out FILE [--layers N] [--seed S]\n"
    "\n"
    "Writes a GGUF with random weights and the real shapes of the model family.\n"
    "  --shape S            phi4-mini (32 layers, d 3072, ffn 8192, vocab 200064, tied embeddings)\n"
    "                       or phi4 (40 layers, d 5120, ffn 17920, vocab 100352, untied)\n"
    "  --type T             f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k (all matrices;\n"
    "                       the output head is q6_k for the 4/5-bit types, as llama.cpp does) or\n"
    "                       q4_k_m (llama.cpp's mix: q6_k head, q6_k qkv/down on some layers, q4_k elsewhere)\n"
    "  --tokenizer-from F   a GGUF whose tokenizer.* metadata is copied (padded to the vocabulary size)\n"
    "  --out FILE           the GGUF to write\n"
    "  --layers N           fewer layers (for quick tests); default: the real count";

struct Shape {
  const char* name;
  std::int64_t layers, d, ffn, heads, kv_heads, head_dim, rope_dims, vocab, ctx, orig_ctx;
  double rope_base;
  bool tied, longrope;
};

constexpr Shape kPhi4Mini{"phi4-mini", 32, 3072, 8192, 24, 8, 128, 96, 200064, 131072, 4096, 10000.0, true, true};
constexpr Shape kPhi4{"phi4", 40, 5120, 17920, 40, 10, 128, 128, 100352, 16384, 16384, 250000.0, false, false};

// ---- a minimal streaming GGUF v3 writer ----
class Writer {
 public:
  explicit Writer(std::FILE* f) : f_(f) {}
  void raw(const void* p, std::size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n) throw phial::IoError("random-model: write failed (disk full?)");
    pos_ += n;
  }
  template <class T>
  void pod(T v) {
    raw(&v, sizeof v);
  }
  void str(const std::string& s) {
    pod<std::uint64_t>(s.size());
    raw(s.data(), s.size());
  }
  void pad_to(std::uint64_t align) {
    static const char zeros[64] = {};
    while (pos_ % align) raw(zeros, std::min<std::uint64_t>(align - pos_ % align, 64));
  }
  // Writes a metadata value (type tag + payload), recursively for arrays.
  void value(const phial::GgufValue& v) {
    using phial::GgufType;
    pod<std::uint32_t>(static_cast<std::uint32_t>(v.type()));
    payload(v);
  }
  void payload(const phial::GgufValue& v) {
    using phial::GgufType;
    switch (v.type()) {
      case GgufType::string: str(v.as_string()); return;
      case GgufType::uint8: pod<std::uint8_t>(static_cast<std::uint8_t>(v.as_uint())); return;
      case GgufType::int8: pod<std::int8_t>(static_cast<std::int8_t>(v.as_int())); return;
      case GgufType::uint16: pod<std::uint16_t>(static_cast<std::uint16_t>(v.as_uint())); return;
      case GgufType::int16: pod<std::int16_t>(static_cast<std::int16_t>(v.as_int())); return;
      case GgufType::uint32: pod<std::uint32_t>(static_cast<std::uint32_t>(v.as_uint())); return;
      case GgufType::int32: pod<std::int32_t>(static_cast<std::int32_t>(v.as_int())); return;
      case GgufType::uint64: pod<std::uint64_t>(v.as_uint()); return;
      case GgufType::int64: pod<std::int64_t>(v.as_int()); return;
      case GgufType::float32: pod<float>(static_cast<float>(v.as_float())); return;
      case GgufType::float64: pod<double>(v.as_float()); return;
      case GgufType::boolean: pod<std::uint8_t>(v.as_bool() ? 1 : 0); return;
      default: throw phial::FormatError("random-model: cannot copy nested metadata arrays");
    }
  }
  std::uint64_t pos() const { return pos_; }

 private:
  std::FILE* f_;
  std::uint64_t pos_ = 0;
};

struct TensorSpec {
  std::string name;
  phial::TensorType type;
  std::int64_t ne0, ne1;
  std::uint64_t offset = 0;
  std::uint64_t bytes() const { return static_cast<std::uint64_t>(phial::row_bytes(type, ne0) * ne1); }
};

std::uint64_t rng = 0x243F6A8885A308D3ULL;
std::uint64_t next() {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

// Random content of `n` bytes of `type`: random codes with f16 scales of about 2^-9 (|w| <~ 0.03).
void fill_random(phial::TensorType type, std::byte* p, std::size_t n, bool ones) {
  using phial::TensorType;
  if (type == TensorType::F32) {
    for (std::size_t i = 0; i < n; i += 4) {
      const float f = ones ? 1.0f : (static_cast<float>(next() % 2001) - 1000.0f) * 2e-5f;
      std::memcpy(p + i, &f, 4);
    }
    return;
  }
  auto half = [](std::byte* q, bool sign) {
    std::uint16_t h = static_cast<std::uint16_t>(0x1800 | (next() & 0x3ff));  // 2^-9 .. 2^-8
    if (sign && (next() & 1)) h |= 0x8000;
    std::memcpy(q, &h, 2);
  };
  if (type == TensorType::F16) {
    for (std::size_t i = 0; i < n; i += 2) half(p + i, true);
    return;
  }
  if (type == TensorType::BF16) {
    for (std::size_t i = 0; i < n; i += 2) {
      const std::uint16_t b = static_cast<std::uint16_t>(0x3c00 | (next() & 0x7f) | ((next() & 1) << 15));
      std::memcpy(p + i, &b, 2);
    }
    return;
  }
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t r = next();
    std::memcpy(p + i, &r, std::min<std::size_t>(8, n - i));
  }
  const auto info = phial::tensor_type_info(type);
  for (std::size_t off = 0; off < n; off += static_cast<std::size_t>(info.block_bytes)) {
    std::byte* b = p + off;
    switch (type) {
      case TensorType::Q4_1:
      case TensorType::Q5_1:
      case TensorType::Q4_K:
      case TensorType::Q5_K:
        half(b, false);
        half(b + 2, false);
        break;
      case TensorType::Q6_K: half(b + 208, true); break;
      default: half(b, true); break;
    }
  }
}

phial::TensorType parse_type(const std::string& s, bool& mix) {
  mix = s == "q4_k_m";
  if (mix) return phial::TensorType::Q4_K;
  for (auto t : {phial::TensorType::F32, phial::TensorType::F16, phial::TensorType::BF16, phial::TensorType::Q4_0,
                 phial::TensorType::Q4_1, phial::TensorType::Q5_0, phial::TensorType::Q5_1, phial::TensorType::Q8_0,
                 phial::TensorType::Q4_K, phial::TensorType::Q5_K, phial::TensorType::Q6_K})
    if (phial::tensor_type_info(t).name == s) return t;
  throw phial::cli::UsageError("--type: unknown type '" + s + "'");
}

// llama.cpp's rule for the layers that get more bits in its _M mixes.
bool use_more_bits(std::int64_t i, std::int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

int run(int argc, char** argv) {
  phial::cli::Args args(argc, argv, {"shape", "type", "tokenizer-from", "out", "layers", "seed"}, {});
  const std::string shape_name = args.require("shape");
  Shape shape = shape_name == "phi4-mini" ? kPhi4Mini : shape_name == "phi4" ? kPhi4 : Shape{};
  if (shape.name == nullptr) throw phial::cli::UsageError("--shape must be phi4-mini or phi4");
  shape.layers = args.get_int("layers", shape.layers);
  if (shape.layers < 1) throw phial::cli::UsageError("--layers must be >= 1");
  rng ^= static_cast<std::uint64_t>(args.get_int("seed", 0)) * 0x9E3779B97F4A7C15ULL;
  bool mix = false;
  const phial::TensorType base = parse_type(args.require("type"), mix);
  const std::string out = args.require("out");
  auto tok = phial::GgufFile::open(args.require("tokenizer-from"));

  using phial::TensorType;
  const bool low_bits = mix || base == TensorType::Q4_0 || base == TensorType::Q4_1 || base == TensorType::Q5_0 ||
                        base == TensorType::Q5_1 || base == TensorType::Q4_K || base == TensorType::Q5_K;
  const TensorType head_type = low_bits ? TensorType::Q6_K : base;
  std::vector<TensorSpec> tensors;
  const std::int64_t qkv = (shape.heads + 2 * shape.kv_heads) * shape.head_dim;
  tensors.push_back({"token_embd.weight", shape.tied ? head_type : base, shape.d, shape.vocab});
  tensors.push_back({"output_norm.weight", TensorType::F32, shape.d, 1});
  if (!shape.tied) tensors.push_back({"output.weight", head_type, shape.d, shape.vocab});
  if (shape.longrope) {
    tensors.push_back({"rope_factors_long.weight", TensorType::F32, shape.rope_dims / 2, 1});
    tensors.push_back({"rope_factors_short.weight", TensorType::F32, shape.rope_dims / 2, 1});
  }
  for (std::int64_t l = 0; l < shape.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const TensorType more = mix && use_more_bits(l, shape.layers) ? TensorType::Q6_K : base;
    tensors.push_back({p + "attn_norm.weight", TensorType::F32, shape.d, 1});
    tensors.push_back({p + "attn_qkv.weight", more, shape.d, qkv});
    tensors.push_back({p + "attn_output.weight", base, shape.heads * shape.head_dim, shape.d});
    tensors.push_back({p + "ffn_norm.weight", TensorType::F32, shape.d, 1});
    tensors.push_back({p + "ffn_up.weight", base, shape.d, 2 * shape.ffn});
    tensors.push_back({p + "ffn_down.weight", more, shape.ffn, shape.d});
  }
  for (auto& t : tensors)
    if (t.ne0 % phial::tensor_type_info(t.type).block_elems != 0)
      throw phial::InvalidArgument("random-model: " + t.name + " row length not a multiple of the block size");

  std::FILE* f = std::fopen((out + ".tmp").c_str(), "wb");
  if (f == nullptr) throw phial::IoError("random-model: cannot create " + out + ".tmp");
  std::vector<char> iobuf(1 << 22);
  std::setvbuf(f, iobuf.data(), _IOFBF, iobuf.size());
  Writer w(f);
  try {
    // ---- metadata ----
    std::vector<std::pair<std::string, phial::GgufValue>> kv;
    using phial::GgufType;
    using phial::GgufValue;
    auto u32 = [&](const std::string& k, std::int64_t v) {
      kv.emplace_back(k, GgufValue::make_uint(GgufType::uint32, static_cast<std::uint64_t>(v)));
    };
    auto f32 = [&](const std::string& k, double v) { kv.emplace_back(k, GgufValue::make_float(GgufType::float32, v)); };
    kv.emplace_back("general.architecture", GgufValue::make_string("phi3"));
    kv.emplace_back("general.name", GgufValue::make_string(std::string("random-") + shape.name + "-" +
                                                             args.require("type")));
    u32("phi3.context_length", shape.ctx);
    u32("phi3.rope.scaling.original_context_length", shape.orig_ctx);
    u32("phi3.embedding_length", shape.d);
    u32("phi3.feed_forward_length", shape.ffn);
    u32("phi3.block_count", shape.layers);
    u32("phi3.attention.head_count", shape.heads);
    u32("phi3.attention.head_count_kv", shape.kv_heads);
    f32("phi3.attention.layer_norm_rms_epsilon", 1e-5);
    u32("phi3.rope.dimension_count", shape.rope_dims);
    f32("phi3.rope.freq_base", shape.rope_base);
    u32("phi3.attention.sliding_window", 0);
    if (shape.longrope) f32("phi3.rope.scaling.attn_factor", 1.1902381);
    // Tokenizer: copied, padded with user-defined placeholder tokens up to the vocabulary size.
    for (auto& [key, val] : tok->metadata()) {
      if (key.rfind("tokenizer.", 0) != 0) continue;
      if (key == "tokenizer.ggml.tokens") {
        std::vector<std::string> toks = val.as_strings();
        if (static_cast<std::int64_t>(toks.size()) > shape.vocab)
          throw phial::InvalidArgument("random-model: the tokenizer has more tokens than the vocabulary size");
        for (auto i = static_cast<std::int64_t>(toks.size()); i < shape.vocab; ++i)
          toks.push_back("<|placeholder_" + std::to_string(i) + "|>");
        kv.emplace_back(key, GgufValue::make_string_array(std::move(toks)));
      } else if (key == "tokenizer.ggml.token_type") {
        std::vector<std::int64_t> types = val.as_ints();
        std::vector<std::byte> raw;
        for (std::int64_t i = 0; i < shape.vocab; ++i) {
          const std::int32_t t = i < static_cast<std::int64_t>(types.size()) ? static_cast<std::int32_t>(types[static_cast<std::size_t>(i)]) : 4;
          const auto* b = reinterpret_cast<const std::byte*>(&t);
          raw.insert(raw.end(), b, b + 4);
        }
        kv.emplace_back(key, GgufValue::make_scalar_array(GgufType::int32, std::move(raw), static_cast<std::size_t>(shape.vocab)));
      } else {
        kv.emplace_back(key, val);
      }
    }
    u32("general.quantization_version", 2);

    w.raw("GGUF", 4);
    w.pod<std::uint32_t>(3);
    w.pod<std::uint64_t>(tensors.size());
    w.pod<std::uint64_t>(kv.size());
    for (auto& [key, val] : kv) {
      w.str(key);
      if (val.is_array()) {
        w.pod<std::uint32_t>(static_cast<std::uint32_t>(GgufType::array));
        if (val.array_type() == GgufType::string) {
          const auto& s = val.as_strings();
          w.pod<std::uint32_t>(static_cast<std::uint32_t>(GgufType::string));
          w.pod<std::uint64_t>(s.size());
          for (auto& x : s) w.str(x);
        } else {
          w.pod<std::uint32_t>(static_cast<std::uint32_t>(val.array_type()));
          w.pod<std::uint64_t>(val.array_size());
          for (std::size_t i = 0; i < val.array_size(); ++i) w.payload(val.at(i));
        }
      } else {
        w.value(val);
      }
    }
    std::uint64_t offset = 0;
    for (auto& t : tensors) {
      t.offset = offset;
      offset = (offset + t.bytes() + 31) / 32 * 32;
      w.str(t.name);
      const bool is_vec = t.ne1 == 1;
      w.pod<std::uint32_t>(is_vec ? 1 : 2);
      w.pod<std::uint64_t>(static_cast<std::uint64_t>(t.ne0));
      if (!is_vec) w.pod<std::uint64_t>(static_cast<std::uint64_t>(t.ne1));
      w.pod<std::uint32_t>(static_cast<std::uint32_t>(t.type));
      w.pod<std::uint64_t>(t.offset);
    }
    w.pad_to(32);
    // ---- data, streamed in chunks of whole rows ----
    const std::uint64_t data_start = w.pos();
    std::vector<std::byte> chunk;
    std::uint64_t total = 0;
    for (auto& t : tensors) {
      w.pad_to(32);
      if (w.pos() - data_start != t.offset) throw phial::IoError("random-model: internal offset mismatch");
      const bool ones = t.name.find("norm") != std::string::npos || t.name.find("rope_factors") != std::string::npos;
      const std::uint64_t row = static_cast<std::uint64_t>(phial::row_bytes(t.type, t.ne0));
      const std::uint64_t rows_per_chunk = std::max<std::uint64_t>(1, (std::uint64_t{32} << 20) / row);
      for (std::int64_t r = 0; r < t.ne1; r += static_cast<std::int64_t>(rows_per_chunk)) {
        const std::uint64_t nr = std::min<std::uint64_t>(rows_per_chunk, static_cast<std::uint64_t>(t.ne1 - r));
        chunk.resize(nr * row);
        fill_random(t.type, chunk.data(), chunk.size(), ones);
        w.raw(chunk.data(), chunk.size());
      }
      total += t.bytes();
    }
    if (std::fclose(f) != 0) throw phial::IoError("random-model: closing " + out + ".tmp failed");
    f = nullptr;
    if (std::rename((out + ".tmp").c_str(), out.c_str()) != 0) throw phial::IoError("random-model: cannot rename to " + out);
    std::printf("wrote %s: %zu tensors, %.2f GiB of weights\n", out.c_str(), tensors.size(),
                static_cast<double>(total) / (1024.0 * 1024.0 * 1024.0));
  } catch (...) {
    if (f) std::fclose(f);
    std::remove((out + ".tmp").c_str());
    throw;
  }
  return 0;
}

const phial::cli::Register reg{{"random-model", "Write a full-size random-weight Phi-4 / Phi-4-mini GGUF (benchmarks)",
                                kUsage, &run}};

}  // namespace
