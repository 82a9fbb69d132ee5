// Foundation: the umbrella header compiles on its own and the basic value types behave.
#include <phial/phial.hpp>

#include <catch2/catch.hpp>

TEST_CASE("tensor type traits match ggml's block sizes") {
  using phial::TensorType;
  CHECK(phial::tensor_type_info(TensorType::Q4_0).block_bytes == 18);
  CHECK(phial::tensor_type_info(TensorType::Q4_K).block_bytes == 144);
  CHECK(phial::tensor_type_info(TensorType::Q6_K).block_bytes == 210);
  CHECK(phial::row_bytes(TensorType::Q8_0, 64) == 68);
  CHECK(phial::row_bytes(TensorType::F16, 3) == 6);
  CHECK_FALSE(phial::is_known_tensor_type(4));  // Q4_2 was removed from ggml
  CHECK(phial::is_known_tensor_type(30));
}

TEST_CASE("errors form one hierarchy") {
  CHECK_THROWS_AS(throw phial::UnsupportedModelError("x"), phial::FormatError);
  CHECK_THROWS_AS(throw phial::FormatError("x"), phial::Error);
}
