// The one translation unit that emits phial's non-template definitions (PHIAL_SEPARATE_COMPILATION).
#include <phial/impl/src.hpp>
