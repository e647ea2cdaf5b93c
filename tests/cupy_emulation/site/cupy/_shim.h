// CPU EMULATION of CUDA's built-ins, so that the CUDA C++ graphgrad generates for CuPy
// compiles as host C++ and runs serially (tests/cupy_emulation). Not GPU truth: one host
// thread runs the threads of a launch one after another. Kernels that need threads of a
// block to cooperate (__syncthreads, __shared__) are refused at compile time on purpose.
#pragma once
#include <math.h>
#include <stdint.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __syncthreads() static_assert(false, "__syncthreads: not emulated (serial threads)")

struct gg_emu_dim3 {
  unsigned int x, y, z;
};
static gg_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

template <typename T> static inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <typename T> static inline T atomicOr(T* p, T v) { T old = *p; *p = old | v; return old; }
template <typename T> static inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <typename T> static inline T atomicMax(T* p, T v) { T old = *p; *p = old < v ? v : old; return old; }
template <typename T> static inline T atomicMin(T* p, T v) { T old = *p; *p = v < old ? v : old; return old; }

// CUDA's device min/max for arithmetic types.
template <typename T> static inline T min(T a, T b) { return b < a ? b : a; }
template <typename T> static inline T max(T a, T b) { return a < b ? b : a; }
