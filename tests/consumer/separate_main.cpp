// Consumer built with PHIAL_SEPARATE_COMPILATION (see CMakeLists.txt).
#include <phial/phial.hpp>

#include <cstdio>
#include <string>

std::string render_hello();

int main() {
  const std::string text = render_hello();
  std::printf("consumer_separate: phial %s, prompt of %zu bytes, avx2 %d\n", phial::version_string(), text.size(),
              int(phial::cpu_features().avx2));
  return text.find("hello") == std::string::npos;
}
