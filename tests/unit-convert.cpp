// unit-convert: HF -> GGUF conversion reproduces llama.cpp's golden GGUFs (same tensor names,
// types, bytes and metadata, tokenizer included), and every output type reloads.
#include <catch2/catch.hpp>

#include <cstring>

#include <boost/json.hpp>

#include <phial/model/convert.hpp>
#include <phial/model/model.hpp>
#include <phial/ops/quant.hpp>

#include "support/model_writers.hpp"

using namespace phial;
using test::golden_dir;

namespace {

// An HF directory for `model`: the golden hf-f32 weights and config, plus tokenizer.json and
// tokenizer_config.json rebuilt from the golden GGUF's vocabulary (ids < 500 BPE vocab, 500..511
// special added tokens), so the converter's tokenizer output can be compared with llama.cpp's.
std::filesystem::path make_hf_dir(const test::TempDir& tmp, const std::string& model) {
  const auto dir = tmp / model;
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(golden_dir(model) / "hf-f32" / "config.json", dir / "config.json");
  std::filesystem::copy_file(golden_dir(model) / "hf-f32" / "model.safetensors", dir / "model.safetensors");
  auto g = GgufFile::open(golden_dir(model) / (model + "-f16.gguf"));
  const auto tokens = g->get_strings("tokenizer.ggml.tokens");
  const auto types = g->get_ints("tokenizer.ggml.token_type");
  boost::json::object vocab;
  boost::json::array added;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == 1) vocab[tokens[i]] = i;
    else added.push_back(boost::json::object{{"id", i}, {"content", tokens[i]}, {"special", types[i] == 3}});
  }
  boost::json::array merges;
  for (const auto& m : g->get_strings("tokenizer.ggml.merges")) {  // new-style [left, right] pairs
    const auto sp = m.find(' ');
    merges.push_back(boost::json::array{m.substr(0, sp), m.substr(sp + 1)});
  }
  boost::json::object tok{{"model", boost::json::object{{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}, {"added_tokens", added}};
  test::write_text(dir / "tokenizer.json", boost::json::serialize(tok));
  test::write_text(dir / "tokenizer_config.json",
                   boost::json::serialize(boost::json::object{{"add_bos_token", false}, {"tokenizer_class", "GPT2Tokenizer"}}));
  return dir;
}

}  // namespace

TEST_CASE("convert type names and the q4_k_m mix", "[convert]") {
  CHECK(parse_convert_type("q4_k_m") == ConvertType::q4_k_m);
  CHECK_FALSE(parse_convert_type("q3_k").has_value());
  // llama-quantize Q4_K_M: more bits for attn_qkv / ffn_down in the first/last eighth and every third layer
  CHECK(convert_tensor_type(ConvertType::q4_k_m, "blk.0.ffn_down.weight", 2, 8192, 0, 32, false) == TensorType::Q6_K);
  CHECK(convert_tensor_type(ConvertType::q4_k_m, "blk.4.ffn_down.weight", 2, 8192, 4, 32, false) == TensorType::Q4_K);
  CHECK(convert_tensor_type(ConvertType::q4_k_m, "blk.6.attn_qkv.weight", 2, 3072, 6, 32, false) == TensorType::Q6_K);
  CHECK(convert_tensor_type(ConvertType::q4_k_m, "blk.6.ffn_up.weight", 2, 3072, 6, 32, false) == TensorType::Q4_K);
  CHECK(convert_tensor_type(ConvertType::q4_k_m, "token_embd.weight", 2, 3072, 0, 32, true) == TensorType::Q6_K);
  CHECK(convert_tensor_type(ConvertType::q4_k_m, "token_embd.weight", 2, 5120, 0, 40, false) == TensorType::Q4_K);
  CHECK(convert_tensor_type(ConvertType::q6_k, "blk.0.attn_norm.weight", 1, 3072, 0, 32, false) == TensorType::F32);
  CHECK(convert_tensor_type(ConvertType::q4_k, "x.weight", 2, 96, 0, 1, false) == TensorType::Q5_0);  // not 256-divisible
}

TEST_CASE("convert reproduces llama.cpp's golden GGUFs byte for byte", "[convert][golden]") {
  test::TempDir tmp;
  for (const std::string model : {"mini-tiny", "phi4-tiny"}) {
    const auto hf = make_hf_dir(tmp, model);
    for (const std::string fmt : {"f16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "q4_k_m"}) {
      INFO(model << " " << fmt);
      const auto out = tmp / (model + "-" + fmt + ".gguf");
      ConvertOptions opts;
      opts.type = *parse_convert_type(fmt);
      std::size_t progress_calls = 0;
      opts.progress = [&](std::size_t, std::size_t, const std::string&) { ++progress_calls; };
      const auto rep = convert_hf_to_gguf(hf, out, opts);
      CHECK(rep.tokenizer);
      CHECK(progress_calls == rep.n_tensors + 1);
      auto mine = GgufFile::open(out);
      auto ref = GgufFile::open(golden_dir(model) / (model + "-" + fmt + ".gguf"));
      // tensors: same set, types, shapes and bytes
      REQUIRE(mine->tensors().size() == ref->tensors().size());
      for (const auto& rt : ref->tensors()) {
        INFO(rt.view.name);
        const auto* t = mine->find_tensor(rt.view.name);
        REQUIRE(t);
        CHECK(t->view.type == rt.view.type);
        REQUIRE(t->view.ne == rt.view.ne);
        REQUIRE(t->view.nbytes == rt.view.nbytes);
        CHECK(std::memcmp(t->view.data, rt.view.data, t->view.nbytes) == 0);
      }
      // metadata: every key llama.cpp wrote, with the same type and value
      for (const auto& [key, rv] : ref->metadata()) {
        INFO(key);
        if (key == "general.alignment") {  // llama.cpp writes the default 32 explicitly; phial omits it
          CHECK(mine->alignment() == rv.as_uint());
          continue;
        }
        const GgufValue* v = mine->find(key);
        REQUIRE(v);
        CHECK(v->type() == rv.type());
        if (rv.is_array()) {
          CHECK(v->array_type() == rv.array_type());
          if (rv.array_type() == GgufType::string) CHECK(v->as_strings() == rv.as_strings());
          else CHECK(v->as_floats() == rv.as_floats());
        } else {
          CHECK(v->to_string(0) == rv.to_string(0));
        }
      }
      // and it reloads as the same model
      const Model m = Model::load(out);
      const Model h = Model::load(hf);
      CHECK(m.config().family == h.config().family);
      CHECK(m.config().rope_long_factors == h.config().rope_long_factors);
      CHECK(m.config().rope_attn_factor == Approx(h.config().rope_attn_factor).epsilon(1e-6));
      CHECK(m.parameter_count() == h.parameter_count());
    }
  }
}

TEST_CASE("convert to f32 and bf16 keeps the weights exactly (bf16 = RNE of f32)", "[convert]") {
  test::TempDir tmp;
  const auto hf = make_hf_dir(tmp, "mini-tiny");
  const Model f32 = Model::load(golden_dir("mini-tiny") / "hf-f32");
  const Model bf16 = Model::load(golden_dir("mini-tiny") / "hf-bf16");
  for (const std::string fmt : {"f32", "bf16"}) {
    ConvertOptions opts;
    opts.type = *parse_convert_type(fmt);
    convert_hf_to_gguf(hf, tmp / "out.gguf", opts);
    const Model m = Model::load(tmp / "out.gguf");
    const auto a = m.tensors();
    const auto want = fmt == "f32" ? f32.tensors() : bf16.tensors();
    REQUIRE(a.size() == want.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      INFO(fmt << " " << a[i]->name);
      if (a[i]->n_dims == 1) {  // vectors stay f32 in GGUF
        CHECK(std::memcmp(a[i]->data, f32.tensors()[i]->data, a[i]->nbytes) == 0);
        continue;
      }
      REQUIRE(a[i]->nbytes == want[i]->nbytes);
      CHECK(std::memcmp(a[i]->data, want[i]->data, a[i]->nbytes) == 0);
    }
  }
}

TEST_CASE("convert without tokenizer.json warns and still writes a loadable file", "[convert]") {
  test::TempDir tmp;
  ConvertOptions opts;
  opts.type = ConvertType::q8_0;
  const auto rep = convert_hf_to_gguf(golden_dir("phi4-tiny") / "hf-bf16", tmp / "x.gguf", opts);
  CHECK_FALSE(rep.tokenizer);
  REQUIRE(rep.warnings.size() == 1);
  CHECK(rep.warnings[0].find("tokenizer.json") != std::string::npos);
  const Model m = Model::load(tmp / "x.gguf");
  CHECK(m.config().family == Family::phi4);
  CHECK_THROWS_AS(convert_hf_to_gguf(golden_dir("phi4-tiny") / "phi4-tiny-q8_0.gguf", tmp / "y.gguf"), InvalidArgument);
}
