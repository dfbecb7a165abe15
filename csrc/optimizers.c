/* optimizers.c -- optimizer steps over flat buffers (see optimizers.h): one fused loop
 * per kind, simple enough for the compiler to vectorise. The float and double versions are
 * one body (optimizers_impl.inc) with the scalars rounded to the buffer's type; the NumPy
 * reference in src/barenet/optimizers.py performs the same operations in the same order.
 * GCC vectorises
 * the loops that take a square root only when built with -fno-math-errno (the results do not
 * change: sqrt here never sees a negative number, so errno is never set anyway). */
#include "optimizers.h"

#include <float.h>
#include <math.h>
#include <stddef.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "gemm.h" /* bn_get_num_threads */
#include "layers.h" /* bn_weight_penalty: the fixed-block sum of squares */
#include "parallel.h" /* BN_VECTOR_CLONES */

/* below this many parameters a step stays on one thread (a parallel region costs more) */
#define BN_OPT_PARALLEL_MIN 65536

/* 1 if `kind` is known and has the state buffers it needs (none when count is 0) */
static int valid(int32_t kind, const void *state1, const void *state2, int64_t count)
{
    switch (kind) {
    case BN_OPT_SGD: return 1;
    case BN_OPT_MOMENTUM: case BN_OPT_NESTEROV: case BN_OPT_RMSPROP:
        return count <= 0 || state1 != 0;
    case BN_OPT_ADAM: case BN_OPT_ADAMW: return count <= 0 || (state1 != 0 && state2 != 0);
    default: return 0;
    }
}

#define BN_PRECISION_FILE "optimizers_impl.inc"
#include "precision.h"
