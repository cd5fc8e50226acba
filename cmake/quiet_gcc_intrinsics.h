// Force-included by GCC < 13 builds (see CMakeLists.txt): the x86 intrinsics, with -Wmaybe-uninitialized off
// for their own lines only, where GCC 12 reports its deliberately undefined registers (GCC bug 105593).
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
