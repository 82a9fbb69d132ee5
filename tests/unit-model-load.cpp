// unit-model-load: Model::load from every golden file in both formats gives the config of
// config.json and the same weights (bit-exact where the formats allow), and bad models are
// rejected with errors naming file + tensor/key + expectation.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include <boost/json.hpp>

#include <phial/model/model.hpp>
#include <phial/ops/quant.hpp>

#include "support/model_writers.hpp"

using namespace phial;
using test::golden_dir;

namespace {

const char* kModels[] = {"mini-tiny", "phi4-tiny"};
const char* kGguf[] = {"f16", "q8_0", "q6_k", "q5_k", "q4_k", "q4_0", "q4_k_m"};

std::vector<float> floats(const TensorView& t) {
  std::vector<float> f(static_cast<std::size_t>(t.elements()));
  dequantize_row(t.type, t.data, f.data(), t.elements());
  return f;
}

template <class E = FormatError>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("expected an exception");
  return {};
}

}  // namespace

TEST_CASE("every golden file loads with the config of config.json", "[model][golden]") {
  for (const std::string model : kModels) {
    const auto cfg = boost::json::parse(test::read_text(golden_dir(model) / "config.json")).as_object();
    std::vector<std::filesystem::path> paths = {golden_dir(model) / "hf-f32", golden_dir(model) / "hf-bf16",
                                                golden_dir(model) / "hf-f32" / "model.safetensors"};
    for (const char* f : kGguf) paths.push_back(golden_dir(model) / (model + "-" + f + ".gguf"));
    for (const auto& p : paths) {
      INFO(p.string());
      const Model m = Model::load(p);
      const ModelConfig& c = m.config();
      CHECK(c.hidden_size == cfg.at("hidden_size").to_number<int>());
      CHECK(c.intermediate_size == cfg.at("intermediate_size").to_number<int>());
      CHECK(c.n_layers == cfg.at("num_hidden_layers").to_number<int>());
      CHECK(c.n_heads == cfg.at("num_attention_heads").to_number<int>());
      CHECK(c.n_kv_heads == cfg.at("num_key_value_heads").to_number<int>());
      CHECK(c.vocab_size == cfg.at("vocab_size").to_number<int>());
      CHECK(c.rope_theta == static_cast<float>(cfg.at("rope_theta").to_number<double>()));
      CHECK(c.rms_norm_eps == 1e-5f);
      CHECK(c.max_position_embeddings == cfg.at("max_position_embeddings").to_number<std::int64_t>());
      CHECK(c.tie_word_embeddings == cfg.at("tie_word_embeddings").as_bool());
      CHECK(c.bos_token_id == 500);
      CHECK(std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), 503) != c.eos_token_ids.end());
      CHECK(c.sliding_window == 0);
      if (model == "mini-tiny") {
        CHECK(c.family == Family::phi4_mini);
        CHECK(c.variant == Variant::phi4_mini_instruct);
        CHECK(c.head_dim == 64);
        CHECK(c.rotary_dim == 48);  // 0.75 x 64
        CHECK(c.original_max_position_embeddings == 32);
        REQUIRE(c.has_longrope());
        const auto& rs = cfg.at("rope_scaling").as_object();
        REQUIRE(c.rope_long_factors.size() == 24);
        for (std::size_t i = 0; i < 24; ++i) {
          CHECK(c.rope_long_factors[i] == static_cast<float>(rs.at("long_factor").as_array()[i].to_number<double>()));
          CHECK(c.rope_short_factors[i] == static_cast<float>(rs.at("short_factor").as_array()[i].to_number<double>()));
        }
        CHECK(c.rope_attn_factor == Approx(std::sqrt(2.0)).epsilon(1e-6));  // sqrt(1 + ln 32 / ln 32)
        CHECK(m.weights().output.data == m.weights().token_embd.data);     // tied
      } else {
        CHECK(c.family == Family::phi4);
        CHECK(c.variant == Variant::phi4);
        CHECK(c.head_dim == 32);
        CHECK(c.rotary_dim == 32);
        CHECK_FALSE(c.has_longrope());
        CHECK(c.rope_attn_factor == 1.0f);
        CHECK(m.weights().output.data != m.weights().token_embd.data);
      }
      CHECK(m.weights().layers.size() == 2);
      CHECK(m.parameter_count() == (model == "mini-tiny" ? 1312000 : 1770752));
      CHECK((m.gguf() != nullptr) == (p.extension() == ".gguf"));
      CHECK(m.hf_dir().empty() == (p.extension() == ".gguf"));
    }
  }
}

TEST_CASE("weights agree across formats: f32 exactly, f16/bf16 as the rounded f32", "[model][golden]") {
  for (const std::string model : kModels) {
    const Model f32 = Model::load(golden_dir(model) / "hf-f32");
    const Model bf16 = Model::load(golden_dir(model) / "hf-bf16");
    const Model f16 = Model::load(golden_dir(model) / (model + "-f16.gguf"));
    const auto a = f32.tensors(), b = bf16.tensors(), h = f16.tensors();
    REQUIRE(a.size() == b.size());
    REQUIRE(a.size() == h.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      INFO(model << " " << h[i]->name);
      REQUIRE(a[i]->ne == h[i]->ne);  // HF [out, in] view == GGUF ne {in, out}
      REQUIRE(a[i]->ne == b[i]->ne);
      const auto x = floats(*a[i]);
      const auto xb = floats(*b[i]);
      const auto xh = floats(*h[i]);
      bool bf_ok = true, f16_ok = true;
      for (std::size_t k = 0; k < x.size(); ++k) {
        bf_ok = bf_ok && xb[k] == bf16_to_fp32(fp32_to_bf16(x[k]));
        // GGUF 1-D tensors stay f32: exact; matrices are f16: the f32 value rounded to f16
        f16_ok = f16_ok && xh[k] == (h[i]->n_dims == 1 ? x[k] : fp16_to_fp32(fp32_to_fp16(x[k])));
      }
      CHECK(bf_ok);
      CHECK(f16_ok);
    }
    // every quantized GGUF: 1-D tensors are the exact f32 values
    for (const char* fmt : kGguf) {
      const Model q = Model::load(golden_dir(model) / (model + "-" + fmt + ".gguf"));
      const auto t = q.tensors();
      for (std::size_t i = 0; i < t.size(); ++i)
        if (t[i]->n_dims == 1) CHECK(std::memcmp(t[i]->data, a[i]->data, t[i]->nbytes) == 0);
    }
  }
}

TEST_CASE("memory modes and moves keep the same bytes", "[model]") {
  const auto p = golden_dir("mini-tiny") / "mini-tiny-q4_k_m.gguf";
  Model a = Model::load(p);
  LoadOptions read_opts;
  read_opts.memory = FileMemory::read;
  Model b = Model::load(p, read_opts);
  CHECK(std::memcmp(a.weights().layers[1].ffn_down.data, b.weights().layers[1].ffn_down.data, a.weights().layers[1].ffn_down.nbytes) == 0);
  const std::byte* before = a.weights().token_embd.data;
  Model moved = std::move(a);
  CHECK(moved.weights().token_embd.data == before);
  CHECK(moved.gguf()->find_tensor("token_embd.weight")->view.data == before);
  LoadOptions locked;
  locked.memory = FileMemory::read_locked;
  try {
    Model c = Model::load(p, locked);
    CHECK(c.weight_bytes() == moved.weight_bytes());
  } catch (const IoError& e) {  // RLIMIT_MEMLOCK too small on this machine: must say so
    CHECK(std::string(e.what()).find("mlock") != std::string::npos);
  }
}

TEST_CASE("sharded Hugging Face checkpoints load like single files", "[model]") {
  test::TempDir dir;
  const auto src = golden_dir("phi4-tiny") / "hf-f32";
  std::filesystem::copy_file(src / "config.json", dir / "config.json");
  auto all = test::copy_safetensors(src / "model.safetensors");
  test::SafetensorsWriter s1, s2;
  std::string map;
  for (std::size_t i = 0; i < all.tensors.size(); ++i) {
    const bool first = i < all.tensors.size() / 2;
    (first ? s1 : s2).tensors.push_back(all.tensors[i]);
    map += std::string(map.empty() ? "" : ",") + "\"" + all.tensors[i].name + "\": \"model-0000" + (first ? "1" : "2") + "-of-00002.safetensors\"";
  }
  s1.write(dir / "model-00001-of-00002.safetensors");
  s2.write(dir / "model-00002-of-00002.safetensors");
  test::write_text(dir / "model.safetensors.index.json", "{\"metadata\": {}, \"weight_map\": {" + map + "}}");
  test::write_text(dir / "generation_config.json", R"({"bos_token_id": 500, "eos_token_id": [509, 503]})");
  test::write_text(dir / "tokenizer_config.json",
                   R"({"chat_template": "{{ '<think>' }}", "eos_token": "<|im_end|>", "added_tokens_decoder": {"509": {"content": "<|im_end|>"}, "508": {"content": "<|im_start|>"}, "510": {"content": "<|im_sep|>"}}})");
  const Model sharded = Model::load(dir.path());
  const Model single = Model::load(src);
  CHECK(sharded.safetensors()->files().size() == 2);
  const auto a = sharded.tensors(), b = single.tensors();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(std::memcmp(a[i]->data, b[i]->data, a[i]->nbytes) == 0);
  // generation_config's stop tokens come first; the template's <think> marks a reasoning variant
  CHECK(sharded.config().eos_token_ids == std::vector<std::int32_t>{509, 503});
  CHECK(sharded.config().chat_template == "{{ '<think>' }}");
  CHECK(sharded.config().family == Family::phi4);
  CHECK(sharded.config().variant == Variant::phi4_reasoning);
  // a shard path means the whole checkpoint
  CHECK(Model::load(dir / "model-00002-of-00002.safetensors").safetensors()->files().size() == 2);
}

TEST_CASE("bad Hugging Face models are rejected with clear errors", "[model][bad]") {
  test::TempDir dir;
  const auto src = golden_dir("mini-tiny") / "hf-f32";
  const std::string config = test::read_text(src / "config.json");
  std::filesystem::copy_file(src / "model.safetensors", dir / "model.safetensors");
  auto set_config = [&](const std::string& text) { test::write_text(dir / "config.json", text); };
  auto edit_config = [&](const std::function<void(boost::json::object&)>& f) {
    auto v = boost::json::parse(config);
    f(v.as_object());
    set_config(boost::json::serialize(v));
  };

  set_config("{ this is not json");
  CHECK_THAT(error_of([&] { Model::load(dir.path()); }), Catch::Contains("config.json") && Catch::Contains("not valid JSON"));

  edit_config([](auto& o) { o.erase("hidden_size"); });
  CHECK_THAT(error_of([&] { Model::load(dir.path()); }), Catch::Contains("missing key 'hidden_size'"));

  edit_config([](auto& o) { o["num_attention_heads"] = "four"; });
  CHECK_THAT(error_of([&] { Model::load(dir.path()); }), Catch::Contains("'num_attention_heads'") && Catch::Contains("expected an integer"));

  edit_config([](auto& o) { o["model_type"] = "phi4flash"; });
  CHECK_THAT(error_of<UnsupportedModelError>([&] { Model::load(dir.path()); }), Catch::Contains("phi4flash"));

  edit_config([](auto& o) { o["model_type"] = "phi4mm"; });
  CHECK_THAT(error_of<UnsupportedModelError>([&] { Model::load(dir.path()); }), Catch::Contains("LoRA"));

  edit_config([](auto& o) { o["model_type"] = "llama"; });
  CHECK_THAT(error_of<UnsupportedModelError>([&] { Model::load(dir.path()); }), Catch::Contains("'llama'"));

  edit_config([](auto& o) { o["rope_scaling"].as_object()["long_factor"].as_array().pop_back(); });
  CHECK_THAT(error_of([&] { Model::load(dir.path()); }), Catch::Contains("long_factor has 23") && Catch::Contains("expected rotary_dim/2 = 24"));

  edit_config([](auto& o) { o["rope_scaling"].as_object()["type"] = "yarn"; });
  CHECK_THAT(error_of<UnsupportedModelError>([&] { Model::load(dir.path()); }), Catch::Contains("yarn"));

  // config disagrees with the tensors: every mismatched tensor is named
  edit_config([](auto& o) { o["intermediate_size"] = 384; });
  {
    const std::string e = error_of([&] { Model::load(dir.path()); });
    CHECK_THAT(e, Catch::Contains("model.layers.0.mlp.gate_up_proj.weight") && Catch::Contains("expected {256, 768}"));
    CHECK_THAT(e, Catch::Contains("model.layers.1.mlp.down_proj.weight") && Catch::Contains("expected {384, 256}"));
    CHECK_THAT(e, Catch::Contains("model.safetensors"));
  }
  edit_config([](auto& o) { o["tie_word_embeddings"] = false; });
  CHECK_THAT(error_of([&] { Model::load(dir.path()); }), Catch::Contains("lm_head.weight") && Catch::Contains("tie_word_embeddings"));

  // missing tensor and LoRA-wrapped names
  set_config(config);
  auto w = test::copy_safetensors(src / "model.safetensors", [](auto& t) { return t.name != "model.layers.1.mlp.down_proj.weight"; });
  w.write(dir / "model.safetensors");
  CHECK_THAT(error_of([&] { Model::load(dir.path()); }), Catch::Contains("missing tensor 'model.layers.1.mlp.down_proj.weight'"));
  w = test::copy_safetensors(src / "model.safetensors", [](auto& t) {
    if (t.name == "model.layers.0.self_attn.qkv_proj.weight") t.name = "model.layers.0.self_attn.qkv_proj.base_layer.weight";
    return true;
  });
  w.write(dir / "model.safetensors");
  CHECK_THAT(error_of<UnsupportedModelError>([&] { Model::load(dir.path()); }), Catch::Contains("base_layer") && Catch::Contains("phi4mm"));

  CHECK_THROWS_AS(Model::load(dir / "does-not-exist"), IoError);
}

TEST_CASE("bad GGUF models are rejected with clear errors", "[model][bad]") {
  test::TempDir dir;
  auto g = GgufFile::open(golden_dir("phi4-tiny") / "phi4-tiny-q8_0.gguf");
  auto write = [&](const test::GgufCopyEdits& e) {
    test::copy_gguf(*g, e).write(dir / "m.gguf");
    return dir / "m.gguf";
  };
  // the unedited copy loads and equals the original
  const Model ok = Model::load(write({}));
  CHECK(ok.weight_bytes() == Model::load(golden_dir("phi4-tiny") / "phi4-tiny-q8_0.gguf").weight_bytes());

  auto p = write({[](std::string& k, GgufValue& v) {
                    if (k == "general.architecture") v = GgufValue::make_string("llama");
                    return true;
                  },
                  {}});
  CHECK_THAT(error_of<UnsupportedModelError>([&] { Model::load(p); }), Catch::Contains("'llama'"));

  p = write({[](std::string& k, GgufValue&) { return k != "phi3.block_count"; }, {}});
  CHECK_THAT(error_of([&] { Model::load(p); }), Catch::Contains("m.gguf") && Catch::Contains("missing metadata key 'phi3.block_count'"));

  p = write({{}, [](GgufWriter::Tensor& t) { return t.name != "blk.1.attn_output.weight"; }});
  CHECK_THAT(error_of([&] { Model::load(p); }), Catch::Contains("missing tensor 'blk.1.attn_output.weight'"));

  p = write({[](std::string& k, GgufValue& v) {
               if (k == "phi3.feed_forward_length") v = GgufValue::make_uint(GgufType::uint32, 512);
               return true;
             },
             {}});
  CHECK_THAT(error_of([&] { Model::load(p); }),
             Catch::Contains("blk.0.ffn_up.weight") && Catch::Contains("ne {256, 1536}, expected {256, 1024}"));

  p = write({{}, [](GgufWriter::Tensor& t) {
               if (t.name == "blk.0.attn_qkv.weight") t.name = "blk.0.attn_qkv.lora_A.weight";
               return true;
             }});
  CHECK_THROWS_AS(Model::load(p), UnsupportedModelError);

  p = write({{}, [](GgufWriter::Tensor& t) {
               if (t.name == "blk.0.attn_norm.weight") {  // a vector stored as q8_0 (256 = 8 blocks)
                 t.type = static_cast<std::uint32_t>(TensorType::Q8_0);
                 t.nbytes = 8 * 34;
               }
               return true;
             }});
  CHECK_THAT(error_of([&] { Model::load(p); }), Catch::Contains("blk.0.attn_norm.weight") && Catch::Contains("expected f32, f16 or bf16"));
}
