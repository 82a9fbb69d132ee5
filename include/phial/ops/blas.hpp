// phial/ops/blas.hpp - how phial calls OpenBLAS.
#pragma once
#include <cblas.h>

namespace phial::ops::detail {

// OpenBLAS runs single-threaded inside our pool (each pool thread calls sgemm on its own tiles), so
// its own threads never compete with the pool's.
// Checked on every call (a cheap getter) because the application may change it in between.
inline void ensure_blas_single_threaded() {
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

}  // namespace phial::ops::detail
