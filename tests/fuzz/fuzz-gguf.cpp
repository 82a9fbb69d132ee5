// fuzz-gguf: libFuzzer target for the GGUF reader. Any input must either parse into views that
// lie inside the input, or raise FormatError: never crash, read out of bounds, or hang.
//   CXX=clang++ cmake -S . -B build-fuzz -DPHIAL_BUILD_FUZZERS=ON ... && build-fuzz/tests/fuzz-gguf -max_total_time=60 tests/fuzz/seeds-gguf
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include <phial/model/gguf.hpp>
#include <phial/model/model.hpp>
#include <phial/ops/quant.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto g = phial::GgufFile::from_memory(bytes, "fuzz.gguf");
    for (const auto& [key, value] : g->metadata()) (void)value.to_string();
    std::vector<float> row;
    for (const auto& t : g->tensors()) {
      const auto& v = t.view;
      if (v.data < bytes.data() || v.data + v.nbytes > bytes.data() + bytes.size()) std::abort();  // view outside the input
      // decode the first row of every decodable tensor (reads exactly row_bytes from the view)
      if (v.nbytes > 0 && phial::tensor_type_info(v.type).supported && v.ne[0] <= (1 << 16)) {
        row.resize(static_cast<std::size_t>(v.ne[0]));
        phial::dequantize_row(v.type, v.data, row.data(), v.ne[0]);
      }
    }
    try {
      (void)phial::config_from_gguf(*g);
    } catch (const phial::FormatError&) {
    }
  } catch (const phial::FormatError&) {
  }
  return 0;
}
