/* layers.c -- the two precisions of the layer code (layers_impl.inc, one source for both
 * types); loops are split over threads by parallel.h's rule. */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "activations.h"
#include "gemm.h"
#include "layers.h"
#include "losses.h"
#include "parallel.h"
#include "rng.h"

#define REAL double
#define SFX(name) name##_f64
#define GEMM bn_dgemm
#define GEMM_BIAS_ACT bn_dgemm_bias_act
#define SOFTMAX_ROWS bn_softmax_rows_f64
#define POOL_INDEX int64_t
#include "layers_impl.inc"
#undef REAL
#undef SFX
#undef GEMM
#undef GEMM_BIAS_ACT
#undef SOFTMAX_ROWS
#undef POOL_INDEX

#define REAL float
#define SFX(name) name##_f32
#define GEMM bn_sgemm
#define GEMM_BIAS_ACT bn_sgemm_bias_act
#define SOFTMAX_ROWS bn_softmax_rows_f32
#define POOL_INDEX int32_t
#include "layers_impl.inc"
