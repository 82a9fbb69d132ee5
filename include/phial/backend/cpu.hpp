// phial/backend/cpu.hpp - run-time CPU feature detection for kernel dispatch.
//
// phial is compiled for the baseline ISA (x86-64) and carries SIMD kernels compiled with
// `__attribute__((target(...)))`; which one runs is decided here, once, from CPUID and XGETBV
// (the OS must save the wider registers, or the instructions fault).
//
// The environment variable PHIAL_SIMD forces a lower level: `scalar` (portable C++ only), `avx2`
// (ignore AVX-512 and AMX), `avx512` (ignore AMX, VBMI and GFNI: a Cascade Lake's set) or `avx512vbmi`
// (ignore AMX only). Tests use it to exercise every path on one machine.
#pragma once
#include <cstdlib>
#include <cstring>
#include <string>

#include <phial/config.hpp>

#if defined(__x86_64__) || defined(__i386__)
#  include <cpuid.h>
#endif

namespace phial {

struct CpuFeatures {
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool avx512_vbmi = false;
  bool gfni = false;  // Galois-field affine byte transforms (with AVX-512 here: the zmm forms)
  bool avx_vnni = false;
  bool amx_tile = false;  // hardware + OS state support; Linux also needs arch_prctl(ARCH_REQ_XCOMP_PERM)
  bool amx_int8 = false;
  bool amx_bf16 = false;

  // The AVX2 kernels need all three.
  bool has_avx2_fma_f16c() const noexcept { return avx2 && fma && f16c; }
  // The AVX-512 decode kernels (ops/qdot_avx512.hpp): F, BW, VL and VNNI, on top of the AVX2 set
  // (Ice Lake, Sapphire Rapids, Zen 4 and later; not Skylake-X, which lacks VNNI).
  bool has_avx512_vnni() const noexcept {
    return has_avx2_fma_f16c() && avx512f && avx512bw && avx512vl && avx512_vnni;
  }
  // That plus VBMI (byte permutes) and GFNI: Ice Lake, Sapphire Rapids, Zen 4 and later; not Cascade
  // Lake or Cooper Lake. The q4_0 decode kernel gathers its nibbles with them (ops/qdot_avx512.hpp).
  bool has_avx512_vbmi_gfni() const noexcept { return has_avx512_vnni() && avx512_vbmi && gfni; }
  std::string describe() const {
    std::string s;
    auto add = [&](bool on, const char* name) {
      if (!on) return;
      if (!s.empty()) s += ' ';
      s += name;
    };
    add(avx, "avx");
    add(avx2, "avx2");
    add(fma, "fma");
    add(f16c, "f16c");
    add(avx512f, "avx512f");
    add(avx512bw, "avx512bw");
    add(avx512vl, "avx512vl");
    add(avx512_vnni, "avx512_vnni");
    add(avx512_bf16, "avx512_bf16");
    add(avx512_vbmi, "avx512_vbmi");
    add(gfni, "gfni");
    add(avx_vnni, "avx_vnni");
    add(amx_tile, "amx_tile");
    add(amx_int8, "amx_int8");
    add(amx_bf16, "amx_bf16");
    return s.empty() ? std::string("baseline") : s;
  }
};

namespace detail {

inline CpuFeatures detect_cpu_features_raw() noexcept {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  __cpuid(1, a, b, c, d);
  const bool osxsave = (c >> 27) & 1;
  const bool cpu_avx = (c >> 28) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  unsigned long long xcr0 = 0;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;  // opmask + ZMM_Hi256 + Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;    // XTILECFG + XTILEDATA
  f.avx = cpu_avx && os_ymm;
  f.fma = f.fma && f.avx;
  f.f16c = f.f16c && f.avx;
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = f.avx && ((b >> 5) & 1);
    f.avx512f = os_zmm && ((b >> 16) & 1);
    f.avx512bw = f.avx512f && ((b >> 30) & 1);
    f.avx512vl = f.avx512f && ((b >> 31) & 1);
    f.avx512_vnni = f.avx512f && ((c >> 11) & 1);
    f.avx512_vbmi = f.avx512f && ((c >> 1) & 1);
    f.gfni = f.avx && ((c >> 8) & 1);
    f.amx_bf16 = os_amx && ((d >> 22) & 1);
    f.amx_tile = os_amx && ((d >> 24) & 1);
    f.amx_int8 = os_amx && ((d >> 25) & 1);
    const unsigned subleaves = a;
    if (subleaves >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      f.avx_vnni = f.avx2 && ((a >> 4) & 1);
      f.avx512_bf16 = f.avx512f && ((a >> 5) & 1);
    }
  }
#endif
  return f;
}

// Applies PHIAL_SIMD (scalar | avx2 | avx512 | avx512vbmi | native) to the detected features.
inline CpuFeatures apply_simd_override(CpuFeatures f, const char* level) noexcept {
  if (level == nullptr || *level == '\0' || std::strcmp(level, "native") == 0) return f;
  if (std::strcmp(level, "scalar") == 0) return CpuFeatures{};
  if (std::strcmp(level, "avx2") == 0) {
    CpuFeatures g;
    g.avx = f.avx;
    g.avx2 = f.avx2;
    g.fma = f.fma;
    g.f16c = f.f16c;
    return g;
  }
  if (std::strcmp(level, "avx512vbmi") == 0) {
    f.amx_tile = f.amx_int8 = f.amx_bf16 = false;
    return f;
  }
  if (std::strcmp(level, "avx512") == 0) {
    f.amx_tile = f.amx_int8 = f.amx_bf16 = false;
    f.avx512_vbmi = f.gfni = false;
    return f;
  }
  return f;
}

}  // namespace detail

// The features of this machine (detected once, thread-safe), after the PHIAL_SIMD override.
inline const CpuFeatures& cpu_features() noexcept {
  static const CpuFeatures features =
      detail::apply_simd_override(detail::detect_cpu_features_raw(), std::getenv("PHIAL_SIMD"));
  return features;
}

}  // namespace phial
