// GGUF tokenizer metadata as llama.cpp's converter writes it, derived from a tokenizer.json's text:
// byte-level token texts, CONTROL (3) for added tokens, UNUSED (5) "[PAD{id}]" for holes, merges
// "l r". Shared by unit-tokenizer (the GGUF loader's test) and bench-tokenizer (its load time).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace phial_test {

struct GgufVectors {
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;
  std::vector<std::string> merges;
};
inline GgufVectors gguf_vectors_from_hf_json(const std::string& json, std::int32_t n_vocab) {
  auto root = boost::json::parse(json);
  const auto& model = root.at("model").as_object();
  GgufVectors g;
  g.tokens.resize(std::size_t(n_vocab));
  g.types.assign(std::size_t(n_vocab), 5);
  for (std::int32_t i = 0; i < n_vocab; ++i) g.tokens[std::size_t(i)] = "[PAD" + std::to_string(i) + "]";
  for (const auto& kv : model.at("vocab").as_object()) {
    auto id = std::size_t(kv.value().as_int64());
    g.tokens[id] = std::string(kv.key());
    g.types[id] = 1;
  }
  for (const auto& a : root.at("added_tokens").as_array()) {
    auto id = std::size_t(a.at("id").as_int64());
    g.tokens[id] = std::string(a.at("content").as_string());
    g.types[id] = 3;
  }
  for (const auto& m : model.at("merges").as_array()) {
    const auto& arr = m.as_array();
    g.merges.push_back(std::string(arr[0].as_string()) + " " + std::string(arr[1].as_string()));
  }
  return g;
}

}  // namespace phial_test
