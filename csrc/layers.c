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
#include "sparse.h"

#define REAL double
#define SFX(name) name##_f64
#define GEMM bn_dgemm
#define GEMM_BIAS_ACT bn_dgemm_bias_act
#define SOFTMAX_ROWS bn_softmax_rows_f64
#define POOL_INDEX int64_t
#define CSR_DENSE_BIAS_ACT bn_csr_dense_bias_act_f64
#define CSR_T_DENSE bn_csr_t_dense_f64
#include "layers_impl.inc"
#undef REAL
#undef SFX
#undef GEMM
#undef GEMM_BIAS_ACT
#undef SOFTMAX_ROWS
#undef POOL_INDEX
#undef CSR_DENSE_BIAS_ACT
#undef CSR_T_DENSE

#define REAL float
#define SFX(name) name##_f32
#define GEMM bn_sgemm
#define GEMM_BIAS_ACT bn_sgemm_bias_act
#define SOFTMAX_ROWS bn_softmax_rows_f32
#define POOL_INDEX int32_t
#define CSR_DENSE_BIAS_ACT bn_csr_dense_bias_act_f32
#define CSR_T_DENSE bn_csr_t_dense_f32
#include "layers_impl.inc"
