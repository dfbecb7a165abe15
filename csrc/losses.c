/* losses.c -- loss values and output deltas (see losses.h), for both precisions from one
 * body (losses_impl.inc). Binary cross-entropy uses the stable form
 * max(z, 0) - y z + log(1 + exp(-|z|)), equal to the tutorial's
 * -[y log(p + 1e-8) + (1 - y) log(1 - p + 1e-8)] wherever that is finite and accurate;
 * cross-entropy uses log softmax(z)_j = z_j - max(z) - log(sum exp(z - max(z))). exp is
 * bn_exp (vexp.h), so that these loops vectorise. */
#include <math.h>

#include "activations.h"
#include "losses.h"
#include "parallel.h"
#include "vexp.h"

#define BN_TILE 16        /* rows of at most BN_TILE_K classes taken at once (losses_impl.inc) */
#define BN_TILE_K 32
#define MAX(a, b) ((a) > (b) ? (a) : (b)) /* fmax is a call; a NaN row gives NaN either way */
#define MIN(a, b) ((a) < (b) ? (a) : (b))

#define BN_PRECISION_FILE "losses_impl.inc"
#include "precision.h"
