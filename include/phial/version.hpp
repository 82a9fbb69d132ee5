// phial/version.hpp
#pragma once
#include <phial/config.hpp>

namespace phial {
constexpr const char* version_string() noexcept { return PHIAL_VERSION_STRING; }
}  // namespace phial
