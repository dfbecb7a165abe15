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

#define BN_PRECISION_FILE "layers_impl.inc"
#include "precision.h"
