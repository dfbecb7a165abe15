/* layers.c -- the two precisions of the layer code (layers_impl.inc, one source for both
 * types) and the threading rule its loops over samples share. */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "activations.h"
#include "gemm.h"
#include "layers.h"
#include "losses.h"
#include "rng.h"

/* below this many element operations a loop over samples stays on one thread */
#define BN_LAYER_PARALLEL_MIN 200000.0

#ifdef _OPENMP
#define BN_OMP_FOR(nt) _Pragma("omp parallel for num_threads(nt) schedule(static) if(nt > 1)")
#else
#define BN_OMP_FOR(nt)
#endif

/* threads for a loop over n samples doing `work` element operations in all */
static int threads_for(int64_t n, double work)
{
    int nt = bn_get_num_threads();
    if (work < BN_LAYER_PARALLEL_MIN || n < 2) return 1;
    return nt < n ? nt : (int)n;
}

#define REAL double
#define SFX(name) name##_f64
#define GEMM bn_dgemm
#define GEMM_BIAS_ACT bn_dgemm_bias_act
#define SOFTMAX_ROWS bn_softmax_rows_f64
#include "layers_impl.inc"
#undef REAL
#undef SFX
#undef GEMM
#undef GEMM_BIAS_ACT
#undef SOFTMAX_ROWS

#define REAL float
#define SFX(name) name##_f32
#define GEMM bn_sgemm
#define GEMM_BIAS_ACT bn_sgemm_bias_act
#define SOFTMAX_ROWS bn_softmax_rows_f32
#include "layers_impl.inc"
