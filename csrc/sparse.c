/* sparse.c -- CSR times dense (sparse.h): what both precisions share (batch rows, thread
 * partitions, the look-ahead that prefetches the dense rows the next entries will touch);
 * the kernels themselves live once in sparse_impl.inc, compiled for double and float.
 * Both kernels are axpys along OUT: out row += value * (dense row), so the inner loops run
 * over contiguous rows and vectorise; the entries' rows of w / dw are scattered in memory,
 * so they are prefetched a few entries ahead. Validation is Python's (barenet/_sparse.py). */
#include "sparse.h"

#include <stddef.h>
#include <string.h>

#include "activations.h"
#include "gemm.h" /* BN_OK, bn_get_num_threads */
#include "parallel.h" /* BN_VECTOR_CLONES */

#ifdef _OPENMP
#include <omp.h>
#endif

/* Teams and their measured costs (2-core Zen 5, float32, 1 vs 2 threads, rebuilt with
 * -DBN_SPARSE_PARALLEL_MIN=0): starting a team costs ~1-2 us, so the forward goes parallel
 * from (entries + NB) OUT = 32768 multiply-adds (two threads won from ~30k with w in cache,
 * from ~5k with w in memory); for the gradient see gradient_team. */
#ifndef BN_SPARSE_PARALLEL_MIN
#define BN_SPARSE_PARALLEL_MIN 32768.0
#endif
#ifndef BN_SPARSE_SCAN_COST
#define BN_SPARSE_SCAN_COST 150.0
#endif

/* how many entries ahead the dense rows are prefetched, and at most how many bytes of each */
#define PREFETCH_AHEAD 4
#define PREFETCH_MAX_BYTES 2048

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH_READ(p) __builtin_prefetch((p), 0, 3)
#define PREFETCH_WRITE(p) __builtin_prefetch((p), 1, 3)
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#define PREFETCH_READ(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define PREFETCH_WRITE(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define PREFETCH_READ(p) ((void)(p))
#define PREFETCH_WRITE(p) ((void)(p))
#endif


/* the batch: rows of X by their position in the batch */
typedef struct {
    int64_t nb;
    const int64_t *indptr, *indices, *rows; /* (n_rows + 1), (nnz), (NB) or NULL */
} csr_batch;

static inline int64_t batch_row(const csr_batch *x, int64_t i)
{
    return x->rows ? x->rows[i] : i;
}

static inline int64_t row_entries(const csr_batch *x, int64_t i)
{
    const int64_t r = batch_row(x, i);
    return x->indptr[r + 1] - x->indptr[r];
}

static int64_t batch_entries(const csr_batch *x)
{
    int64_t n = 0;
    for (int64_t i = 0; i < x->nb; i++) n += row_entries(x, i);
    return n;
}

/* the forward's team: work = (entries + NB) OUT, split by batch rows; one thread below the
 * measured size */
static int forward_team(double work, int64_t nb)
{
    int nt = work < BN_SPARSE_PARALLEL_MIN ? 1 : bn_get_num_threads();
    if (nt > nb) nt = (int)nb;
    return nt < 1 ? 1 : nt;
}

/* The gradient's team splits the rows of dw, so the zeroing (IN OUT) and the axpys
 * (entries OUT) divide among nt threads, but every thread reads every entry to find its
 * own: a branch on the column, mispredicted about half the time, costing each thread about
 * BN_SPARSE_SCAN_COST multiply-adds per entry whatever nt. (Splitting the columns of dw
 * instead measured worse: the hardware prefetchers of the two cores then fetch each other's
 * neighbouring lines.) A team when what it saves beats what it adds. */
static int gradient_team(int64_t entries, int64_t n_in, int64_t n_out)
{
    int nt = bn_get_num_threads();
    if (nt > n_in) nt = (int)n_in;
    if (nt <= 1) return 1;
    const double split_work = (double)(entries + n_in) * (double)n_out;
    const double added = (double)entries * BN_SPARSE_SCAN_COST + BN_SPARSE_PARALLEL_MIN;
    return split_work * (1.0 - 1.0 / nt) > added ? nt : 1;
}

#ifdef _OPENMP
/* [*lo, *hi) = part `part` of `parts` of the range [0, n) */
static void split(int64_t n, int part, int parts, int64_t *lo, int64_t *hi)
{
    *lo = n * part / parts;
    *hi = n * (part + 1) / parts;
}

/* The forward gives thread t the batch rows whose cost (entries + 1 for the write-back)
 * starts in the t-th of nt equal shares of the total: contiguous, about equal work even when
 * row lengths vary. first_owned = the first row owned by thread t or later (nb if none). */
static int64_t first_owned(const csr_batch *x, double total, int nt, int t)
{
    double before = 0.0;
    for (int64_t i = 0; i < x->nb; i++) {
        if ((int64_t)(before * nt / total) >= t) return i;
        before += (double)(row_entries(x, i) + 1);
    }
    return x->nb;
}
#endif

/* The look-ahead: walks the entries of batch rows [lo, hi) ahead of the work and returns
 * each one's column (-1 past the last), so the dense row it will touch can be prefetched. */
typedef struct {
    const csr_batch *x;
    int64_t i, hi, p, end; /* entry p of batch row i, whose entries end at `end` */
} lookahead;

static void lookahead_init(lookahead *q, const csr_batch *x, int64_t lo, int64_t hi)
{
    q->x = x;
    q->i = lo - 1;
    q->hi = hi;
    q->p = q->end = 0;
}

static inline int64_t lookahead_next(lookahead *q)
{
    while (q->p >= q->end) {
        if (q->i + 1 >= q->hi) return -1;
        const int64_t r = batch_row(q->x, ++q->i);
        q->p = q->x->indptr[r];
        q->end = q->x->indptr[r + 1];
    }
    return q->x->indices[q->p++];
}

/* the first PREFETCH_MAX_BYTES of a row of `bytes` */
static inline void prefetch_read(const void *row, size_t bytes)
{
    if (bytes > PREFETCH_MAX_BYTES) bytes = PREFETCH_MAX_BYTES;
    for (size_t b = 0; b < bytes; b += 64) PREFETCH_READ((const char *)row + b);
}

static inline void prefetch_write(void *row, size_t bytes)
{
    if (bytes > PREFETCH_MAX_BYTES) bytes = PREFETCH_MAX_BYTES;
    for (size_t b = 0; b < bytes; b += 64) PREFETCH_WRITE((char *)row + b);
}

#define BN_PRECISION_FILE "sparse_impl.inc"
#include "precision.h"
