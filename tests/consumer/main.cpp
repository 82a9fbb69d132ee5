// A consumer of phial: includes the umbrella header and uses a few types.
#include <phial/phial.hpp>

#include <cstdio>

int main() {
  phial::ModelConfig config;
  config.hidden_size = 3072;
  std::printf("consumer: phial %s, hidden %d, q4_k block %lld bytes\n", phial::version_string(), config.hidden_size,
              static_cast<long long>(phial::tensor_type_info(phial::TensorType::Q4_K).block_bytes));
  return 0;
}
