// demo_model.hpp - where the bundled demo model is, and the --model default of every example and
// `phial` command: the demo model, or one clear line saying it is missing and how to get it.
#pragma once
#include <phial/error.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace examples {

// examples/demo_model/phial-demo.gguf, compiled in by examples/CMakeLists.txt (PHIAL_DEMO_MODEL).
inline std::string demo_model_path() {
#ifdef PHIAL_DEMO_MODEL
  return PHIAL_DEMO_MODEL;
#else
  return (std::filesystem::path(__FILE__).parent_path().parent_path() / "demo_model" / "phial-demo.gguf").string();
#endif
}

// `given` (the --model value) if any, else the demo model; throws phial::IoError with a one-line
// message when the demo model is not there.
inline std::filesystem::path model_or_demo(const std::optional<std::string>& given) {
  if (given) return *given;
  std::filesystem::path p = demo_model_path();
  if (!std::filesystem::exists(p))
    throw phial::IoError("the bundled demo model " + p.string() +
                         " is missing: build it with examples/demo_model/make_model.sh, or pass --model PATH "
                         "(a Phi-4 / Phi-4-mini GGUF or Hugging Face directory, see docs/real-models.md)");
  return p;
}

}  // namespace examples
