// unit-safetensors: the safetensors reader on the golden checkpoints, single vs sharded
// checkpoints, and a corpus of broken files / indexes (each a FormatError naming file + tensor).
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include <phial/model/safetensors.hpp>
#include <phial/ops/quant.hpp>

#include "support/model_writers.hpp"

using namespace phial;
using test::golden_dir;

namespace {

std::vector<std::byte> floats_bytes(std::vector<float> v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

test::SafetensorsWriter small_writer() {
  test::SafetensorsWriter w;
  w.add("a", "F32", {2, 3}, floats_bytes({1, 2, 3, 4, 5, 6}));
  w.add("b", "BF16", {4}, std::vector<std::byte>(8, std::byte{0x3f}));
  w.metadata["format"] = "pt";
  return w;
}

void expect_format_error(const std::vector<std::byte>& bytes, const std::vector<std::string>& needles) {
  try {
    SafetensorsFile::from_memory(bytes, "test.safetensors");
    FAIL("expected FormatError");
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("test.safetensors") != std::string::npos);
    for (const auto& n : needles) CHECK(msg.find(n) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("golden safetensors: HF [out, in] shapes become ggml ne {in, out}; bf16 = RNE(f32)", "[safetensors][golden]") {
  for (const std::string model : {"mini-tiny", "phi4-tiny"}) {
    auto f32 = SafetensorsSet::open(golden_dir(model) / "hf-f32");
    auto bf16 = SafetensorsSet::open(golden_dir(model) / "hf-bf16");
    REQUIRE(f32->files().size() == 1);
    const auto tensors = f32->tensors();
    CHECK(tensors.size() == (model == "mini-tiny" ? 14u : 15u));  // tied mini has no lm_head
    const auto* qkv = f32->find("model.layers.0.self_attn.qkv_proj.weight");
    REQUIRE(qkv);
    REQUIRE(qkv->shape.size() == 2);
    CHECK(qkv->view.ne[0] == qkv->shape[1]);
    CHECK(qkv->view.ne[1] == qkv->shape[0]);
    CHECK(qkv->view.n_dims == 2);
    CHECK(qkv->view.type == TensorType::F32);
    for (const auto* t : tensors) {
      const auto* b = bf16->find(t->view.name);
      INFO(model << " " << t->view.name);
      REQUIRE(b);
      CHECK(b->dtype == "BF16");
      REQUIRE(b->view.ne == t->view.ne);
      const auto* x = reinterpret_cast<const unsigned char*>(t->view.data);
      const auto* y = reinterpret_cast<const unsigned char*>(b->view.data);
      bool all_equal = true;
      for (std::int64_t i = 0; i < t->view.elements(); ++i) {
        float f;
        std::uint16_t h;
        std::memcpy(&f, x + 4 * i, 4);
        std::memcpy(&h, y + 2 * i, 2);
        all_equal = all_equal && fp32_to_bf16(f) == h;
      }
      CHECK(all_equal);
    }
  }
}

TEST_CASE("single file, shards with an index, and metadata", "[safetensors]") {
  test::TempDir dir;
  auto w = small_writer();
  w.write(dir / "model.safetensors");
  auto one = SafetensorsSet::open(dir.path());
  REQUIRE(one->tensors().size() == 2);
  CHECK(one->files()[0]->metadata().at("format") == "pt");
  const auto* a = one->find("a");
  REQUIRE(a);
  CHECK(a->view.ne == std::array<std::int64_t, 4>{3, 2, 1, 1});
  float v[6];
  std::memcpy(v, a->view.data, 24);
  CHECK(v[5] == 6.f);

  // shard the same tensors over two files
  test::TempDir sharded;
  test::SafetensorsWriter s1, s2;
  s1.tensors.push_back(w.tensors[0]);
  s2.tensors.push_back(w.tensors[1]);
  s1.write(sharded / "model-00001-of-00002.safetensors");
  s2.write(sharded / "model-00002-of-00002.safetensors");
  test::write_text(sharded / "model.safetensors.index.json",
                   R"({"metadata": {"total_size": 32}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  auto set = SafetensorsSet::open(sharded.path());
  CHECK(set->files().size() == 2);
  REQUIRE(set->find("a"));
  REQUIRE(set->find("b"));
  CHECK(std::memcmp(set->find("a")->view.data, a->view.data, 24) == 0);

  SECTION("index errors name the index file and tensor") {
    test::write_text(sharded / "model.safetensors.index.json", R"({"weight_map": {"a": "model-00002-of-00002.safetensors"}})");
    try {
      SafetensorsSet::open(sharded.path());
      FAIL("expected FormatError");
    } catch (const FormatError& e) {
      CHECK(std::string(e.what()).find("'a'") != std::string::npos);
    }
    test::write_text(sharded / "model.safetensors.index.json", R"({"weight_map": {"c": "model-00001-of-00002.safetensors"}})");
    CHECK_THROWS_WITH(SafetensorsSet::open(sharded.path()), Catch::Contains("'c'") && Catch::Contains("in no shard"));
    test::write_text(sharded / "model.safetensors.index.json", R"({"weight_map": {"a": "../etc/passwd"}})");
    CHECK_THROWS_WITH(SafetensorsSet::open(sharded.path()), Catch::Contains("same directory"));
    test::write_text(sharded / "model.safetensors.index.json", R"({"weight_map": {"a": "missing.safetensors"}})");
    CHECK_THROWS_AS(SafetensorsSet::open(sharded.path()), IoError);
    test::write_text(sharded / "model.safetensors.index.json", "{not json");
    CHECK_THROWS_WITH(SafetensorsSet::open(sharded.path()), Catch::Contains("not valid JSON"));
  }
}

TEST_CASE("every truncation of a safetensors file is a FormatError", "[safetensors][bad]") {
  const auto bytes = small_writer().to_bytes();
  REQUIRE_NOTHROW(SafetensorsFile::from_memory(bytes, "test.safetensors"));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    std::vector<std::byte> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    INFO("truncated to " << n);
    CHECK_THROWS_AS(SafetensorsFile::from_memory(cut, "test.safetensors"), FormatError);
  }
}

TEST_CASE("hand-made bad safetensors files", "[safetensors][bad]") {
  auto with_header = [](std::string h) {
    test::SafetensorsWriter w = small_writer();
    w.header_override = std::move(h);
    return w.to_bytes();
  };
  auto edited = [](std::function<void(boost::json::object&)> f) {
    test::SafetensorsWriter w = small_writer();
    w.edit_header = std::move(f);
    return w.to_bytes();
  };
  expect_format_error(with_header("[1, 2]"), {"must be a JSON object"});
  expect_format_error(with_header("{\"a\": "), {"not valid JSON"});
  expect_format_error(with_header("{\"a\": 5}"), {"tensor 'a'", "expected an object"});
  expect_format_error(edited([](auto& h) { h["a"].as_object()["dtype"] = "F99"; }), {"tensor 'a'", "unknown dtype \"F99\""});
  expect_format_error(edited([](auto& h) { h["a"].as_object()["dtype"] = "I64"; }), {"tensor 'a'", "not supported"});
  expect_format_error(edited([](auto& h) { h["a"].as_object()["shape"] = boost::json::array{-2, 3}; }), {"tensor 'a'", "negative"});
  expect_format_error(edited([](auto& h) { h["a"].as_object()["shape"] = boost::json::array{1, 1, 1, 1, 6}; }), {"tensor 'a'", "at most 4"});
  expect_format_error(edited([](auto& h) { h["a"].as_object()["shape"] = boost::json::array{3, 3}; }), {"tensor 'a'", "needs 36"});
  // a zero dimension makes the element count 0, but the other dimensions must still not overflow
  expect_format_error(edited([](auto& h) { h["a"].as_object()["shape"] = boost::json::array{0, std::int64_t{1} << 40, std::int64_t{1} << 40}; }),
                      {"tensor 'a'", "shape overflows"});
  expect_format_error(edited([](auto& h) { h["a"].as_object()["data_offsets"] = boost::json::array{24, 0}; }), {"tensor 'a'", "reversed"});
  expect_format_error(edited([](auto& h) { h["b"].as_object()["data_offsets"] = boost::json::array{24, 1000032}; }), {"tensor 'b'", "past the end"});
  expect_format_error(edited([](auto& h) { h["b"].as_object()["data_offsets"] = boost::json::array{16, 24}; }), {"'a'", "'b'", "overlap"});
  expect_format_error(edited([](auto& h) { h["b"].as_object().erase("dtype"); }), {"tensor 'b'", "dtype"});
  expect_format_error(edited([](auto& h) { h["__metadata__"] = boost::json::object{{"k", 1}}; }), {"__metadata__"});
  auto huge = small_writer().to_bytes();
  const std::uint64_t n = std::uint64_t{1} << 40;
  std::memcpy(huge.data(), &n, 8);
  expect_format_error(huge, {"100 MiB"});
}

TEST_CASE("random corruption of a safetensors file never crashes", "[safetensors][bad]") {
  const auto good = small_writer().to_bytes();
  std::mt19937 rng(99);
  for (int iter = 0; iter < 3000; ++iter) {
    auto b = good;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<std::byte>(rng());
    try {
      auto f = SafetensorsFile::from_memory(b, "test.safetensors");
      for (const auto& t : f->tensors()) {
        REQUIRE(t.view.data >= b.data());
        REQUIRE(t.view.data + t.view.nbytes <= b.data() + b.size());
      }
    } catch (const FormatError&) {
    }
  }
}
