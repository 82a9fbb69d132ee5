// phial/config.hpp - build configuration macros shared by every phial header.
//
// phial is header-only by default: every function is defined in the headers and marked
// PHIAL_INLINE. A program that includes phial from many translation units can instead compile the
// heavy non-template code once, as Boost.Asio does:
//
//   // in every TU (e.g. via the compiler command line):   -DPHIAL_SEPARATE_COMPILATION
//   // in exactly one TU:                                  #include <phial/impl/src.hpp>
//
// Headers put heavy definitions in `*-inl.hpp` / `impl/*.ipp` files guarded by PHIAL_HEADER_ONLY.
// Covered today: the model layer (files, config, executor), chat, sampling and the agent. Kernels
// (ops/, backend/) and the tokenizer stay plain `inline` in both modes for now (kernels are hot and
// short; the tokenizer is yet to be split into declarations and an .ipp).
#pragma once

#define PHIAL_VERSION_MAJOR 0
#define PHIAL_VERSION_MINOR 1
#define PHIAL_VERSION_PATCH 0
#define PHIAL_VERSION_STRING "0.1.0"

#if defined(PHIAL_SEPARATE_COMPILATION)
#  if !defined(PHIAL_HEADER_ONLY)  // impl/src.hpp sets it to 1 for the one TU that emits definitions
#    define PHIAL_HEADER_ONLY 0
#  endif
#  define PHIAL_INLINE
#else
#  define PHIAL_HEADER_ONLY 1
#  define PHIAL_INLINE inline
#endif

// Force-inline for tiny hot helpers inside kernels.
#if defined(__GNUC__) || defined(__clang__)
#  define PHIAL_ALWAYS_INLINE inline __attribute__((always_inline))
#  define PHIAL_RESTRICT __restrict__
#else
#  define PHIAL_ALWAYS_INLINE inline
#  define PHIAL_RESTRICT
#endif
