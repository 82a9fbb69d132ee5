// fuzz-safetensors: libFuzzer target for the safetensors reader and the config.json parser. Any
// input must parse (views inside the input) or raise FormatError.
//   build-fuzz/tests/fuzz-safetensors -max_total_time=60 tests/fuzz/seeds-safetensors
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <phial/model/hf_config.hpp>
#include <phial/model/safetensors.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto f = phial::SafetensorsFile::from_memory(bytes, "fuzz.safetensors");
    for (const auto& t : f->tensors()) {
      const auto& v = t.view;
      if (v.data < bytes.data() || v.data + v.nbytes > bytes.data() + bytes.size()) std::abort();
    }
  } catch (const phial::FormatError&) {
  }
  // The same bytes as a config.json (JSON inputs reach the config validation).
  if (size > 0 && data[0] == '{') {
    try {
      (void)phial::parse_hf_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
    } catch (const phial::FormatError&) {
    }
  }
  return 0;
}
