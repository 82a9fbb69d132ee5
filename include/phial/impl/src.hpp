// phial/impl/src.hpp - include in exactly one translation unit of a program built with
// PHIAL_SEPARATE_COMPILATION to emit phial's non-template definitions once.
#pragma once
#if !defined(PHIAL_SEPARATE_COMPILATION)
#  error "phial/impl/src.hpp is only for PHIAL_SEPARATE_COMPILATION builds"
#endif
#if defined(PHIAL_HEADER_ONLY)
#  error "include phial/impl/src.hpp before any other phial header in its translation unit"
#endif
#define PHIAL_HEADER_ONLY 1
#define PHIAL_BUILDING_SRC 1
#include <phial/phial.hpp>
