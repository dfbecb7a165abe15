/* gemm.c -- the GEMM driver: cache blocking (one table of MC/KC/NC), packing of op(A) into
 * MR-row micro-panels and op(B) into NR-column micro-panels, the macro-kernel that walks the
 * tiles, the fused bias+activation write-back, and OpenMP over independent blocks of C
 * (K is never split, so results do not depend on the thread count). Micro-kernels live in
 * gemm_kernel_*.c and are chosen in cpu.c; the naive oracle is gemm_ref.c. */
#ifndef REAL /* ---- once (the packing copies and the write-back: per precision, below) */
#include "gemm.h"

#include <stdlib.h>
#include <string.h>

#include "activations.h"
#include "checked.h"
#include "cpu.h"
#include "parallel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(_MSC_VER)
#define BN_THREAD_LOCAL __declspec(thread)
#else
#define BN_THREAD_LOCAL _Thread_local
#endif

/* ---- block sizes: the one table, a row per kernel set -----------------------------------
 * KC: a B micro-panel (KC x NR) plus an A micro-panel (MR x KC) stay in L1 (32 KiB);
 * MC: the packed A block (MC x KC) stays in L2 (512 KiB per core);
 * NC: the packed B block (KC x NC) stays in L3 (32 MiB shared).
 * (This machine's Zen 5 has 48 KiB / 1 MiB; the sizes above suit both.) The AVX-512 kernels
 * take a much deeper KC: at their rate the passes over C (read and written once per K block)
 * cost more than streaming the B micro-panel (KC x 32 floats / 16 doubles, 100 KiB) from L2,
 * so K up to 800 (784 inputs of an MNIST layer) is one block; the A block (at most 600 KiB)
 * and the B micro-panel still share a 1 MiB L2 (measured on Zen 5: 10000x256x784 float
 * products run 1.4x faster than with KC = 256). At run time MC is rounded down to a multiple
 * of MR, and K and N are cut into equal blocks of at most KC and NC (NC rounded up to a
 * multiple of NR), so no block is a thin sliver. */
typedef struct { int64_t mc, kc, nc; } blocking;
#ifndef BN_BLOCKS_F32                 /* overridable only to tune from the harness */
#define BN_BLOCKS_F32 {168, 256, 4080}
#define BN_BLOCKS_F64 {96, 256, 2040}
#endif
#ifndef BN_BLOCKS_AVX512_F32
#define BN_BLOCKS_AVX512_F32 {168, 800, 4080}
#define BN_BLOCKS_AVX512_F64 {96, 800, 2040}
#endif
static const struct { const char *kernels; blocking f32, f64; } BLOCKS[] = {
    {"avx512", BN_BLOCKS_AVX512_F32, BN_BLOCKS_AVX512_F64},
    {NULL, BN_BLOCKS_F32, BN_BLOCKS_F64},           /* every other kernel set */
};

static const blocking *blocks_for(const bn_kernel_set *ks, int f64)
{
    size_t i = 0;
    while (BLOCKS[i].kernels && strcmp(BLOCKS[i].kernels, ks->name)) i++;
    return f64 ? &BLOCKS[i].f64 : &BLOCKS[i].f32;
}

/* Products below this many flops (2 m n k) run on one thread (measured crossover; the
 * harness benchmarks/gemm_check.c rebuilds with -DBN_PARALLEL_MIN_FLOPS=0 to measure it). */
#ifndef BN_PARALLEL_MIN_FLOPS
#define BN_PARALLEL_MIN_FLOPS 2000000.0
#endif

/* ---- threads --------------------------------------------------------------------------- */

static int threads_setting = 0;   /* > 0: set by bn_set_num_threads */
static int threads_env = -1;      /* BARENET_NUM_THREADS, read once; 0 when unset */

void bn_set_num_threads(int n) { threads_setting = n > 0 ? n : 0; }

int bn_get_num_threads(void)
{
#ifdef _OPENMP
    if (omp_in_parallel()) return 1; /* called by a thread of a team: its share is serial */
    int max = omp_get_max_threads();
#else
    int max = 1;
#endif
    if (threads_env < 0) {
        const char *s = getenv("BARENET_NUM_THREADS");
        int v = s ? atoi(s) : 0;
        threads_env = v > 0 ? v : 0;
    }
    int want = threads_setting > 0 ? threads_setting : threads_env;
    return want > 0 && want < max ? want : max;
}

/* ---- packing buffers: one per thread (the caller's, and each OpenMP worker's own), 64-byte
 * aligned, grown when needed and reused; a worker's lives as long as the OpenMP pool. ---- */

static BN_THREAD_LOCAL void *buf_raw = NULL;
static BN_THREAD_LOCAL char *buf_aligned = NULL;
static BN_THREAD_LOCAL size_t buf_size = 0;

static char *packing_buffer(size_t bytes)
{
    if (bytes <= buf_size) return buf_aligned;
    free(buf_raw);
    buf_raw = malloc(bytes + 64);
    if (!buf_raw) {
        buf_aligned = NULL;
        buf_size = 0;
        return NULL;
    }
    buf_aligned = (char *)(((uintptr_t)buf_raw + 63) & ~(uintptr_t)63);
    buf_size = bytes;
    return buf_aligned;
}

void bn_gemm_free_buffers(void)
{
    free(buf_raw);
    buf_raw = NULL;
    buf_aligned = NULL;
    buf_size = 0;
}

/* ---- one product: everything the team needs ------------------------------------------- */

typedef enum { F32 = 0, F64 = 1 } dtype;

typedef struct {
    dtype dt;
    size_t es;                       /* element size */
    bn_trans ta, tb;
    int64_t m, n, k;
    const void *a, *b;
    int64_t lda, ldb;
    void *c;
    int64_t ldc;
    double alpha, beta;              /* exact for float too */
    int fused;                       /* write-back adds bias and applies act (and stores z) */
    const void *bias;                /* (n) or NULL */
    int32_t act;
    void *z;                         /* (m, n) or NULL */
    int64_t ldz;
    bn_sgemm_ukernel sk;
    bn_dgemm_ukernel dk;
    bn_sgemm_direct sdirect;         /* the set's direct kernels (NULL: none) */
    bn_dgemm_direct ddirect;
    bn_spack_lines spack_a, spack_bt; /* fast packing of full panels of plain A / B^T, or NULL */
    bn_dpack_lines dpack_a, dpack_bt;
    int mr, nr;
    int64_t mc, kc, nc;
    const bn_packed_b *pb;           /* op(B) packed by the caller (bn_?gemm_pack_b), or NULL */
    int reused;                      /* op(B) packed once for many products: pack_b_for's
                                        job, or a product given its panels (direct_fits) */
    void *bsum;                      /* (n): B's column sums, made from its panels, or NULL */
    int *summed;                     /* set to 1 when bsum was made (bn_?gemm_sum_b) */
    char *bufa, *bufb;               /* thin path: packed edge panel of A, packed op(B) */
    /* thin path (small N): op(A) in place, op(B) copied whole into bufb */
    bn_sgemm_thin sthin;
    bn_dgemm_thin dthin;
} gemm_job;

/* op(B) in the packed path's panels, for many products (bn_?gemm_pack_b): K block after K
 * block (rows [pc, pc + kb) of op(B)), each all of N in NR-column panels of kb x NR (NR
 * columns per step, zero past n): the panel of columns [j, j + NR) of the block at pc is at
 * element pc * npad + j * kb, npad = n rounded up to NR. The products check every field
 * against their own before reading it (packed_b_matches). */
struct bn_packed_b {
    dtype dt;
    bn_trans ta, tb;
    int64_t n, k, kc, nr, npad;
    const void *b;
    int64_t ldb;
    void *raw;                       /* malloc'd; data is raw rounded up to 64 bytes */
    char *data;
};

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* the depth of the K blocks of a product of depth k: equal blocks of at most the table's KC
 * (a last sliver of a block would cost a full pass of packing). The packed path and the
 * direct path both cut K so, and each element of C is the same chain of FMAs per block,
 * added to C block after block: the same bits whichever path runs. */
static int64_t k_block(int64_t k, const blocking *bl)
{
    return ceil_div(k, ceil_div(k, bl->kc));
}

/* [*lo, *hi) = part `part` of `parts` of the range [0, n) */
static void split(int64_t n, int part, int parts, int64_t *lo, int64_t *hi)
{
    *lo = n * part / parts;
    *hi = n * (part + 1) / parts;
}

/* ---- packing: a micro-panel of w lines (MR rows of op(A) or NR columns of op(B)) by kc
 * steps into dst[p * w + r], lines r >= wb zero. Either each step's lines are contiguous
 * (src[p * ld + r]: op(A) = A^T, op(B) = B) and a step is a short copy, or each line is
 * contiguous along k (src[r * ld + p]: op(A) = A, op(B) = B^T) and the panel is a transpose.
 * Full panels of the kernels' widths get loops with constant trip counts, which the
 * compiler unrolls and vectorises. ------------------------------------------------------- */

/* pack_panel_f32/_f64 (the packing copies) and bias_act_f32/_f64 (the fused write-back):
 * written once, at the end of this file, for both precisions (precision.h); the driver
 * below is type-erased (gemm_job.dt) and calls them by the job's type */
#define BN_PRECISION_FILE "gemm.c"
#include "precision.h"

/* op(A) rows [i0, i0 + mb) x columns [p0, p0 + kc) into one MR-row micro-panel */
static void pack_a(const gemm_job *g, int64_t i0, int64_t p0, int64_t mb, int64_t kc, char *pa)
{
    const int plain = g->ta == BN_NO_TRANS;         /* A's rows are op(A)'s rows */
    const int64_t off = plain ? i0 * g->lda + p0 : p0 * g->lda + i0;
    if (plain && mb == g->mr && g->dt == F32 && g->spack_a)
        g->spack_a((const float *)g->a + off, g->lda, kc, (float *)pa);
    else if (plain && mb == g->mr && g->dt == F64 && g->dpack_a)
        g->dpack_a((const double *)g->a + off, g->lda, kc, (double *)pa);
    else if (g->dt == F32)
        pack_panel_f32((const float *)g->a + off, g->lda, plain, kc, mb, g->mr, (float *)pa);
    else
        pack_panel_f64((const double *)g->a + off, g->lda, plain, kc, mb, g->mr, (double *)pa);
}

/* op(B) rows [p0, p0 + kc) x columns [j0, j0 + nb) into one NR-column micro-panel */
static void pack_b(const gemm_job *g, int64_t p0, int64_t j0, int64_t kc, int64_t nb, char *pb)
{
    const int trans = g->tb == BN_TRANS;            /* B's rows are op(B)'s columns */
    const int64_t off = trans ? j0 * g->ldb + p0 : p0 * g->ldb + j0;
    if (trans && nb == g->nr && g->dt == F32 && g->spack_bt)
        g->spack_bt((const float *)g->b + off, g->ldb, kc, (float *)pb);
    else if (trans && nb == g->nr && g->dt == F64 && g->dpack_bt)
        g->dpack_bt((const double *)g->b + off, g->ldb, kc, (double *)pb);
    else if (g->dt == F32)
        pack_panel_f32((const float *)g->b + off, g->ldb, trans, kc, nb, g->nr, (float *)pb);
    else
        pack_panel_f64((const double *)g->b + off, g->ldb, trans, kc, nb, g->nr, (double *)pb);
}

/* bsum[j:j+nb] (+)= the sums of the kc steps of one packed micro-panel of B (first: from 0) */
static void sum_panel(const gemm_job *g, int64_t j, int64_t nb, int64_t kc, const char *pan,
                      int first)
{
    if (g->dt == F32)
        sum_panel_f32((float *)g->bsum + j, (const float *)pan, kc, g->nr, nb, first);
    else
        sum_panel_f64((double *)g->bsum + j, (const double *)pan, kc, g->nr, nb, first);
}

/* the fused write-back (bias, activation, z) on C[i:i+mb, j:j+nb], when the job has one */
static void write_back(const gemm_job *g, int64_t i, int64_t j, int64_t mb, int64_t nb)
{
    if (!g->fused) return;
    if (g->dt == F32)
        bias_act_f32((float *)g->c + i * g->ldc + j, g->ldc, mb, nb,
                     g->bias ? (const float *)g->bias + j : NULL, g->act,
                     g->z ? (float *)g->z + i * g->ldz + j : NULL, g->ldz);
    else
        bias_act_f64((double *)g->c + i * g->ldc + j, g->ldc, mb, nb,
                     g->bias ? (const double *)g->bias + j : NULL, g->act,
                     g->z ? (double *)g->z + i * g->ldz + j : NULL, g->ldz);
}

/* the tile of C at (i, j), mb x nb: the kernel (the fused write-back follows per block) */
static void tile(const gemm_job *g, int64_t kc, const char *pa, const char *pb, int64_t i,
                 int64_t j, int64_t mb, int64_t nb, int first)
{
    if (g->dt == F32)
        g->sk(kc, (const float *)pa, (const float *)pb, (float *)g->c + i * g->ldc + j, g->ldc,
              mb, nb, (float)g->alpha, first ? (float)g->beta : 1.0f);
    else
        g->dk(kc, (const double *)pa, (const double *)pb, (double *)g->c + i * g->ldc + j,
              g->ldc, mb, nb, g->alpha, first ? g->beta : 1.0);
}

/* the rows [i, i + mb) of C against one of the caller's NR-column panels of B, A read in
 * place by the set's direct kernel (the panel's rows NR apart): the tile kernel's bits
 * (cpu.h). Its row blocks are the packed kernel's tile or larger (AVX2 6 x 16, AVX-512 8 x
 * 32), so a product whose B the caller packed once for many (a recurrent layer's steps)
 * pays no packing at all. The LSTM's step products on Zen 3 (64 rows per thread, K 157 and
 * 512): training the benchmark's Fashion LSTM on 6,400 images, the calls alternating with
 * A packed, paired median time ratio 0.974 and 0.963 (two runs of 10 and 16 pairs); the
 * character LSTM 0.965 (8 pairs). */
static void tile_direct(const gemm_job *g, int64_t kc, int64_t pc, const char *pan, int64_t i,
                        int64_t j, int64_t mb, int64_t nb, int first)
{
    if (g->dt == F32)
        g->sdirect(mb, nb, kc, (const float *)g->a + i * g->lda + pc, g->lda, 1,
                   (const float *)pan, g->nr, (float *)g->c + i * g->ldc + j, g->ldc,
                   (float)g->alpha, first ? (float)g->beta : 1.0f, NULL, 0);
    else
        g->ddirect(mb, nb, kc, (const double *)g->a + i * g->lda + pc, g->lda, 1,
                   (const double *)pan, g->nr, (double *)g->c + i * g->ldc + j, g->ldc,
                   g->alpha, first ? g->beta : 1.0, NULL, 0);
}

/* The blocked product on the rectangle C[i0:i0+m, j0:j0+n], by one thread with its own
 * packing buffer: jc, NC columns of B (packed, in L3, or the caller's panels); pc, KC deep
 * slices; ic, MC rows of A (packed, in L2); then NR-column micro-panels of B (in L1)
 * against MR-row ones of A. */
static int gemm_block(const gemm_job *g, int64_t i0, int64_t m, int64_t j0, int64_t n)
{
    const int mr = g->mr, nr = g->nr;
    const int64_t ncb = min64(g->nc, ceil_div(n, nr) * nr);
    const int64_t mcb = min64(g->mc, ceil_div(m, mr) * mr);
    const int64_t kcb = min64(g->kc, g->k);
    const size_t bytes_a = ((size_t)mcb * kcb * g->es + 63) & ~(size_t)63;
    char *bufa = packing_buffer(bytes_a + (size_t)ncb * kcb * g->es);
    if (!bufa) return BN_ENOMEM;
    char *bufb = bufa + bytes_a;
    /* with the caller's panels of B, plain A is read in place (tile_direct) */
    const int a_in_place = g->pb && g->ta == BN_NO_TRANS
                        && (g->dt == F32 ? g->sdirect != NULL : g->ddirect != NULL);
    for (int64_t jc = 0; jc < n; jc += g->nc) {
        const int64_t nc = min64(g->nc, n - jc);
        for (int64_t pc = 0; pc < g->k; pc += g->kc) {
            const int64_t kc = min64(g->kc, g->k - pc);
            const int first = pc == 0, last = pc + kc >= g->k;
            const size_t pan_a = (size_t)kc * mr * g->es, pan_b = (size_t)kc * nr * g->es;
            const char *panels = bufb;
            if (g->pb)
                panels = g->pb->data + ((size_t)pc * g->pb->npad + (size_t)(j0 + jc) * kc) * g->es;
            else
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    char *pan = bufb + jr / nr * pan_b;
                    pack_b(g, pc, j0 + jc + jr, kc, min64(nr, nc - jr), pan);
                    /* the column sums, by the threads whose rectangles start at row 0: each
                     * column once, its K blocks in order */
                    if (g->bsum && i0 == 0)
                        sum_panel(g, j0 + jc + jr, min64(nr, nc - jr), kc, pan, first);
                }
            for (int64_t ic = 0; ic < m; ic += g->mc) {
                const int64_t mc = min64(g->mc, m - ic);
                if (a_in_place) {
                    for (int64_t jr = 0; jr < nc; jr += nr)
                        tile_direct(g, kc, pc, panels + jr / nr * pan_b, i0 + ic,
                                    j0 + jc + jr, mc, min64(nr, nc - jr), first);
                    if (last) write_back(g, i0 + ic, j0 + jc, mc, nc);
                    continue;
                }
                for (int64_t ir = 0; ir < mc; ir += mr)
                    pack_a(g, i0 + ic + ir, pc, min64(mr, mc - ir), kc, bufa + ir / mr * pan_a);
                for (int64_t jr = 0; jr < nc; jr += nr)
                    for (int64_t ir = 0; ir < mc; ir += mr)
                        tile(g, kc, bufa + ir / mr * pan_a, panels + jr / nr * pan_b,
                             i0 + ic + ir, j0 + jc + jr, min64(mr, mc - ir), min64(nr, nc - jr),
                             first);
                /* after the last K block, the write-back on the MC x NC block, still in L2:
                 * its rows of NC values vectorise, where a tile's rows are NR long and each
                 * tile would pay a call (same operations per element, so the same bits) */
                if (last) write_back(g, i0 + ic, j0 + jc, mc, nc);
            }
        }
    }
    return BN_OK;
}

/* Threads tm x tn = nt, each on its own rectangle of C with private packing (no barrier
 * inside a product, so a thread delayed by the OS delays only its own part). Splitting M
 * makes every thread pack all of B, splitting N all of A: pick the grid with the least
 * estimated time per thread: its multiply-adds plus its packing (an element packed costs
 * about the time of 8 flops at the kernels' rate). */
static void choose_grid(const gemm_job *g, int nt, int *tm, int *tn)
{
    const int64_t mp = ceil_div(g->m, g->mr), np = ceil_div(g->n, g->nr);
    double best = -1.0;
    for (int t = nt; t >= 1; t--) {
        if (nt % t) continue;
        double rows = (double)ceil_div(mp, t) * g->mr;
        double cols = (double)ceil_div(np, nt / t) * g->nr;
        double cost = 2.0 * rows * cols + 8.0 * (rows + cols);
        if (best < 0.0 || cost < best) {
            best = cost;
            *tm = t;
            *tn = nt / t;
        }
    }
}

/* thread tid of nt: its rectangle of whole micro-panels, then the blocked product on it */
static int gemm_part(const gemm_job *g, int tid, int nt)
{
    int tm = 1, tn = 1;
    choose_grid(g, nt, &tm, &tn);
    int64_t p0, p1, q0, q1;
    split(ceil_div(g->m, g->mr), tid / tn, tm, &p0, &p1);
    split(ceil_div(g->n, g->nr), tid % tn, tn, &q0, &q1);
    const int64_t i0 = p0 * g->mr, i1 = min64(g->m, p1 * g->mr);
    const int64_t j0 = q0 * g->nr, j1 = min64(g->n, q1 * g->nr);
    if (i1 <= i0 || j1 <= j0) return BN_OK;
    return gemm_block(g, i0, i1 - i0, j0, j1 - j0);
}

/* ---- thin products (N <= THIN_MAX_N): the whole K per tile, op(A) read in place, only
 * op(B) packed. A transposed (weight gradients A^T @ delta) uses the "cols" kernel along the
 * contiguous columns of op(A); plain A (X @ W) uses the "rows" kernel along its rows. ------ */

#define THIN_MAX_N 10
#define THIN_MAX_B_BYTES (256 * 1024)   /* packed op(B) stays in L2 */

/* op(B) for the rows kernel when it cannot be read in place: pack_b_rows_f32/_f64, per
 * precision at the end of this file */

/* the rows kernel reads B in place when B is plain with exactly 10 columns */
static int rows_read_b_in_place(const gemm_job *g)
{
    return g->tb == BN_NO_TRANS && g->n == 10;
}

static void thin_team(const gemm_job *g, int tid, int nt)
{
    int64_t lo, hi;
    if (g->ta == BN_NO_TRANS) {                     /* rows: MR rows of A, all N at once */
        const int mr = g->dt == F32 ? g->sthin.mr_rows : g->dthin.mr_rows;
        const int direct = rows_read_b_in_place(g);
        const void *b_rows = direct ? g->b : (const void *)g->bufb;
        const int64_t ldb_rows = direct ? g->ldb : 10;
        split(ceil_div(g->m, mr), tid, nt, &lo, &hi);
        for (int64_t q = lo; q < hi; q++) {
            const int64_t i = q * mr, mb = min64(mr, g->m - i);
            if (g->dt == F32)
                g->sthin.rows(g->k, (const float *)g->a + i * g->lda, g->lda,
                              (const float *)b_rows, ldb_rows, (float *)g->c + i * g->ldc,
                              g->ldc, mb, g->n, (float)g->alpha, (float)g->beta);
            else
                g->dthin.rows(g->k, (const double *)g->a + i * g->lda, g->lda,
                              (const double *)b_rows, ldb_rows, (double *)g->c + i * g->ldc,
                              g->ldc, mb, g->n, g->alpha, g->beta);
            write_back(g, i, 0, mb, g->n);
        }
        return;
    }
    /* cols: panels of MR contiguous columns of op(A) (rows of the stored A^T); the last,
     * partial panel is copied into bufa so the kernel never reads past A */
    const int mr = g->dt == F32 ? g->sthin.mr_cols : g->dthin.mr_cols;
    const int nr = g->dt == F32 ? g->sthin.nr_cols : g->dthin.nr_cols;
    split(ceil_div(g->m, mr), tid, nt, &lo, &hi);
    for (int64_t q = lo; q < hi; q++) {
        const int64_t i = q * mr, mb = min64(mr, g->m - i);
        const char *src = (const char *)g->a + (size_t)i * g->es;
        int64_t sa = g->lda;
        if (mb < mr) {
            pack_a(g, i, 0, mb, g->k, g->bufa);
            src = g->bufa;
            sa = mr;
        }
        for (int64_t j = 0; j < g->n; j += nr) {
            const int64_t nb = min64(nr, g->n - j);
            const char *pb = g->bufb + (size_t)(j / nr) * g->k * nr * g->es;
            if (g->dt == F32)
                g->sthin.cols(g->k, (const float *)src, sa, (const float *)pb,
                              (float *)g->c + i * g->ldc + j, g->ldc, mb, nb,
                              (float)g->alpha, (float)g->beta);
            else
                g->dthin.cols(g->k, (const double *)src, sa, (const double *)pb,
                              (double *)g->c + i * g->ldc + j, g->ldc, mb, nb, g->alpha,
                              g->beta);
            write_back(g, i, j, mb, nb);
        }
    }
}

/* whether the product is thin: small N, thin kernels in the set, op(B) small enough */
static int thin_fits(const gemm_job *g, const bn_kernel_set *ks)
{
    if (g->n > THIN_MAX_N) return 0;
    if (g->dt == F32 ? !ks->sgemm_thin.rows : !ks->dgemm_thin.rows) return 0;
    const int64_t nr = g->dt == F32 ? ks->sgemm_thin.nr_cols : ks->dgemm_thin.nr_cols;
    const size_t bytes_b = g->ta == BN_NO_TRANS ? (size_t)g->k * 10 * g->es
                                                : (size_t)ceil_div(g->n, nr) * nr * g->k * g->es;
    return bytes_b <= THIN_MAX_B_BYTES;
}

/* Sets up the thin path (packs op(B)) and returns 1; 0 when the product is not thin (or the
 * kernel set has no thin kernels); -1 when out of memory. */
static int thin_setup(gemm_job *g, const bn_kernel_set *ks)
{
    if (!thin_fits(g, ks)) return 0;
    if (g->dt == F32) {
        g->sthin = ks->sgemm_thin;
        g->mr = g->sthin.mr_cols;
        g->nr = g->sthin.nr_cols;
    } else {
        g->dthin = ks->dgemm_thin;
        g->mr = g->dthin.mr_cols;
        g->nr = g->dthin.nr_cols;
    }
    size_t bytes_b, bytes_a = 0;
    if (g->ta == BN_NO_TRANS) {
        bytes_b = (size_t)g->k * 10 * g->es;          /* also the bound on B read in place */
    } else {
        bytes_b = (size_t)ceil_div(g->n, g->nr) * g->nr * g->k * g->es;
        bytes_a = ((size_t)g->mr * g->k * g->es + 63) & ~(size_t)63;
    }
    if (g->ta == BN_NO_TRANS && rows_read_b_in_place(g)) return 1;   /* nothing to pack */
    char *buf = packing_buffer(bytes_a + bytes_b);
    if (!buf) return -1;
    g->bufa = buf;
    g->bufb = buf + bytes_a;
    if (g->ta == BN_NO_TRANS) {
        if (g->dt == F32) pack_b_rows_f32(g, (float *)g->bufb);
        else pack_b_rows_f64(g, (double *)g->bufb);
    } else {
        for (int64_t j = 0; j < g->n; j += g->nr)
            pack_b(g, 0, j, g->k, min64(g->nr, g->n - j),
                   g->bufb + (size_t)(j / g->nr) * g->k * g->nr * g->es);
    }
    return 1;
}

/* ---- direct products (few multiply-adds, or few rows): the set's direct kernel reads
 * op(A) and B in place; B^T is first transposed whole into the packing buffer. Nothing is
 * packed into panels, which for a product of a few tens of thousands of multiply-adds, or
 * of a few rows against a large B, costs as much as the product. K deeper than one block
 * is cut into the packed path's blocks (k_block), the kernel called on each with C scaled
 * by beta on the first and accumulated on the others, as the packed path's tiles do: the
 * same bits as the packed path (cpu.h). A weight gradient with few rows and a deep K, the
 * LSTM's dWx = x^T dP (28 x 3584 @ 3584 x 512, one thread, Zen 4, median of three runs
 * of benchmarks/gemm.py --shape): 1396 -> 1200 us. --------------------------------------- */

#ifndef BN_DIRECT_MAX_FLOPS
#define BN_DIRECT_MAX_FLOPS BN_PARALLEL_MIN_FLOPS   /* always one thread */
#endif
/* Products of at most this many rows are direct at any size: packing B (k n copies) costs
 * about as much as the product itself (m k n / 16-lane FMAs), and each call of a
 * prediction would pay it again. Measured on Zen 5, 784x256 float layer, one thread: 8
 * rows 57 -> 24 us, 16 rows 72 -> 45 us, 32 rows 115 -> 90 us, 64 rows even. A direct
 * product large enough for threads (BN_PARALLEL_MIN_FLOPS) splits B's columns between
 * them, whole panels of the kernel's width each, B still read in place: on Zen 4, the
 * 784-256-128-10 float MLP's prediction of 32 rows on 2 threads 134 -> 98 us (the packed
 * path with its shared packing before). */
#ifndef BN_DIRECT_MAX_ROWS
#define BN_DIRECT_MAX_ROWS 32
#endif
#define DIRECT_MAX_BT_BYTES (64 * 1024)              /* B^T copied stays in L1/L2 */
/* A product of one or two rows is bound by how fast B arrives, not by its FMAs; when B is
 * larger than half of a 512 KiB L2 (a token's step of generation: an LSTM(256)'s 1 MiB
 * recurrent weights) it comes from L3, and each core's threads reading half of its columns
 * get twice the bandwidth: whatever its flops, such a product splits B's panels between
 * the threads (gemm_run). The benchmark's LSTM generation on Zen 3, 2 threads, in
 * alternating processes: 118 / 89 / 109 us per token on one thread, 68-101 / 79 / 64 split. */
#define DIRECT_SPLIT_B_BYTES (256.0 * 1024.0)

/* columns [j0, j1) of the direct product (op(B) at b, row stride ldb), K in blocks of kc
 * as the packed path cuts it: the kernel on each block, C scaled by beta on the first and
 * accumulated on the others; the fused write-back after the last (in the kernel when it
 * can: bias with relu or identity and no z) */
static void direct_columns(const gemm_job *g, const bn_kernel_set *ks, int64_t j0, int64_t j1,
                           int64_t sa_i, int64_t sa_p, const void *b, int64_t ldb, int64_t kc)
{
    const int in_kernel = g->fused && g->bias && !g->z
                       && (g->act == BN_ACT_IDENTITY || g->act == BN_ACT_RELU);
    const int relu = g->act == BN_ACT_RELU;
    const int64_t n = j1 - j0;
    if (n <= 0) return;
    for (int64_t p0 = 0; p0 < g->k; p0 += kc) {
        const int64_t kb = min64(kc, g->k - p0);
        const int last = p0 + kb >= g->k;
        if (g->dt == F64) {
            const double *a = (const double *)g->a + p0 * sa_p;
            const double *bias = g->bias ? (const double *)g->bias + j0 : NULL;
            double *c = (double *)g->c + j0;
            ks->dgemm_direct(g->m, n, kb, a, sa_i, sa_p, (const double *)b + p0 * ldb + j0,
                             ldb, c, g->ldc, g->alpha, p0 == 0 ? g->beta : 1.0,
                             last && in_kernel ? bias : NULL, relu);
        } else {
            const float *a = (const float *)g->a + p0 * sa_p;
            const float *bias = g->bias ? (const float *)g->bias + j0 : NULL;
            float *c = (float *)g->c + j0;
            ks->sgemm_direct(g->m, n, kb, a, sa_i, sa_p, (const float *)b + p0 * ldb + j0, ldb,
                             c, g->ldc, (float)g->alpha, p0 == 0 ? (float)g->beta : 1.0f,
                             last && in_kernel ? bias : NULL, relu);
        }
        if (last && !in_kernel) write_back(g, 0, j0, g->m, n);
    }
}

/* whether the product is direct; deep: 0 for products of one K block, 1 for those of
 * several too (plain B only: B^T is copied whole) */
static int direct_fits(const gemm_job *g, const bn_kernel_set *ks, int deep)
{
    const int f64 = g->dt == F64;
    if (f64 ? !ks->dgemm_direct : !ks->sgemm_direct) return 0;
    /* B packed once for many products (bn_?gemm_pack_b): the packed path's only cost over
     * the direct one is then A's packing and the rows its tile computes past m, so the
     * direct kernel keeps only products of at most half a tile's rows. Training the
     * benchmark's character LSTM (K 321, N 1024) on Zen 3, 2 threads, rows per thread: 1
     * and 2 faster direct (0.33 / 0.48 s, 0.45 / 0.51 s per call), 4, 8 and 32 faster
     * packed (0.58 / 0.66, 1.20 / 1.39, 3.65 / 4.76 s) */
    if (g->reused && 2 * g->m > (f64 ? ks->dgemm.mr : ks->sgemm.mr)) return 0;
    if (2.0 * (double)g->m * (double)g->n * (double)g->k >= BN_DIRECT_MAX_FLOPS
        && g->m > BN_DIRECT_MAX_ROWS)
        return 0;
    const int64_t kc = k_block(g->k, blocks_for(ks, f64));
    if (g->tb == BN_TRANS)
        return g->k <= kc && (size_t)g->k * (size_t)g->n * g->es <= DIRECT_MAX_BT_BYTES;
    return deep || g->k <= kc;
}

/* 1 when done, 0 when the product is not direct (direct_fits), -1 when out of memory; nt:
 * the threads the product may use */
static int direct_run(const gemm_job *g, const bn_kernel_set *ks, int nt, int deep)
{
    if (!direct_fits(g, ks, deep)) return 0;
    const int f64 = g->dt == F64;
    const int64_t kc = k_block(g->k, blocks_for(ks, f64));
    const int64_t sa_i = g->ta == BN_NO_TRANS ? g->lda : 1;
    const int64_t sa_p = g->ta == BN_NO_TRANS ? 1 : g->lda;
    if (g->tb == BN_TRANS) {                        /* op(B)[p][j] = b[j * ldb + p] */
        const size_t bytes = (size_t)g->k * (size_t)g->n * g->es;
        char *buf = packing_buffer(bytes);
        if (!buf) return -1;
        /* the packing's transpose with the whole of op(B) as one panel of n lines */
        if (f64) transpose_lines_f64(g->b, g->ldb, g->k, (int)g->n, (double *)buf);
        else transpose_lines_f32(g->b, g->ldb, g->k, (int)g->n, (float *)buf);
        direct_columns(g, ks, 0, g->n, sa_i, sa_p, buf, g->n, kc);   /* one thread: small */
        return 1;
    }
    /* threads over whole panels of the kernel's width (32 floats, 16 doubles): every
     * element is the same chain of FMAs whichever thread computes it */
    const int64_t w = f64 ? 16 : 32, panels = ceil_div(g->n, w);
    const int team = nt < panels ? nt : (int)panels;
#ifdef _OPENMP
    if (team > 1) {
#pragma omp parallel num_threads(team)
        {
            int64_t p0, p1;
            split(panels, omp_get_thread_num(), omp_get_num_threads(), &p0, &p1);
            direct_columns(g, ks, p0 * w, min64(g->n, p1 * w), sa_i, sa_p, g->b, g->ldb, kc);
        }
        return 1;
    }
#endif
    (void)team;
    direct_columns(g, ks, 0, g->n, sa_i, sa_p, g->b, g->ldb, kc);
    return 1;
}

/* C = beta * C (then the fused write-back): the whole product when k == 0 or alpha == 0 */
static void scale_only(const gemm_job *g)
{
    for (int64_t i = 0; i < g->m; i++) {
        if (g->dt == F32) {
            float *ci = (float *)g->c + i * g->ldc, beta = (float)g->beta;
            for (int64_t j = 0; j < g->n; j++) ci[j] = beta == 0.0f ? 0.0f : beta * ci[j];
        } else {
            double *ci = (double *)g->c + i * g->ldc, beta = g->beta;
            for (int64_t j = 0; j < g->n; j++) ci[j] = beta == 0.0 ? 0.0 : beta * ci[j];
        }
    }
    write_back(g, 0, 0, g->m, g->n);
}

/* the packed path's kernels, tile sizes and blocks for the job's type and shape. K and N
 * are cut into equal blocks no larger than the table's (a last sliver of a block would cost
 * a full pass of packing); the blocks depend on the shape only, never on the thread count,
 * so the order of the sums does not either */
static void setup_blocked(gemm_job *g, const bn_kernel_set *ks)
{
    const blocking *bl;
    if (g->dt == F32) {
        g->sk = ks->sgemm.fn;
        g->sdirect = ks->sgemm_direct;
        g->spack_a = ks->sgemm.pack_a;
        g->spack_bt = ks->sgemm.pack_bt;
        g->mr = ks->sgemm.mr;
        g->nr = ks->sgemm.nr;
        bl = blocks_for(ks, 0);
    } else {
        g->dk = ks->dgemm.fn;
        g->ddirect = ks->dgemm_direct;
        g->dpack_a = ks->dgemm.pack_a;
        g->dpack_bt = ks->dgemm.pack_bt;
        g->mr = ks->dgemm.mr;
        g->nr = ks->dgemm.nr;
        bl = blocks_for(ks, 1);
    }
    g->mc = bl->mc / g->mr * g->mr;
    g->kc = k_block(g->k, bl);
    g->nc = ceil_div(g->n, ceil_div(g->n, bl->nc));
    g->nc = ceil_div(g->nc, g->nr) * g->nr;
}

/* whether the caller's packed op(B) is this product's, in this job's layout */
static int packed_b_matches(const gemm_job *g)
{
    const bn_packed_b *p = g->pb;
    return p->dt == g->dt && p->ta == g->ta && p->tb == g->tb && p->n == g->n
        && p->k == g->k && p->b == g->b && p->ldb == g->ldb && p->kc == g->kc
        && p->nr == g->nr;
}

static int gemm_run(gemm_job *g)
{
    if (g->m <= 0 || g->n <= 0) return BN_OK;
    if (g->k <= 0 || g->alpha == 0.0) {
        scale_only(g);
        return BN_OK;
    }
    const bn_kernel_set *ks = bn_cpu_kernels();
    int nt = bn_get_num_threads();
    double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k;
    if (flops < BN_PARALLEL_MIN_FLOPS) nt = 1;
    if (g->m <= 2 && (double)g->k * (double)g->n * (double)g->es >= DIRECT_SPLIT_B_BYTES)
        nt = bn_get_num_threads(); /* a row or two against a large B: see there */

    /* direct in one K block; thin (N <= 10: one chain over the whole K); direct in K blocks
     * for a few rows (the packed path's blocks, so its bits, without packing B); packed */
    int direct = direct_run(g, ks, nt, 0);
    if (direct) return direct < 0 ? BN_ENOMEM : BN_OK;
    int thin = thin_setup(g, ks);
    if (thin < 0) return BN_ENOMEM;
    if (thin) {
#ifdef _OPENMP
        if (nt > 1) {
#pragma omp parallel num_threads(nt)
            thin_team(g, omp_get_thread_num(), omp_get_num_threads());
            return BN_OK;
        }
#endif
        thin_team(g, 0, 1);
        return BN_OK;
    }
    direct = direct_run(g, ks, nt, 1);
    if (direct) return direct < 0 ? BN_ENOMEM : BN_OK;

    setup_blocked(g, ks);
    if (g->pb && !packed_b_matches(g)) g->pb = NULL;  /* another product's: pack as usual */
    if (g->bsum && !g->pb) *g->summed = 1;         /* the packing sums B's columns */
    else g->bsum = NULL;

#ifdef _OPENMP
    if (nt > 1) {
        int status = BN_OK;
#pragma omp parallel num_threads(nt)
        {
            if (gemm_part(g, omp_get_thread_num(), omp_get_num_threads()) != BN_OK) {
#pragma omp critical(bn_gemm_status)                /* OpenMP 2.0 (MSVC) has no atomic write */
                status = BN_ENOMEM;
            }
        }
        return status;
    }
#endif
    (void)nt;                                       /* without OpenMP: one thread */
    return gemm_part(g, 0, 1);
}

/* ---- entry points -------------------------------------------------------------------------- */

int bn_sgemm(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
             float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
             float beta, float *c, int64_t ldc)
{
    return bn_sgemm_pb(ta, tb, m, n, k, alpha, a, lda, b, ldb, NULL, beta, c, ldc);
}

int bn_dgemm(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
             double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
             double beta, double *c, int64_t ldc)
{
    return bn_dgemm_pb(ta, tb, m, n, k, alpha, a, lda, b, ldb, NULL, beta, c, ldc);
}

int bn_sgemm_bias_act(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                      const float *b, int64_t ldb, const float *bias, int32_t act,
                      float *c, int64_t ldc, float *z, int64_t ldz)
{
    gemm_job g = {.dt = F32, .es = sizeof(float), .ta = BN_NO_TRANS, .tb = BN_NO_TRANS,
                  .m = m, .n = n, .k = k, .a = a, .b = b, .lda = lda, .ldb = ldb, .c = c,
                  .ldc = ldc, .alpha = 1.0, .beta = 0.0, .fused = 1, .bias = bias, .act = act,
                  .z = z, .ldz = ldz};
    return gemm_run(&g);
}

int bn_dgemm_bias_act(int64_t m, int64_t n, int64_t k, const double *a, int64_t lda,
                      const double *b, int64_t ldb, const double *bias, int32_t act,
                      double *c, int64_t ldc, double *z, int64_t ldz)
{
    gemm_job g = {.dt = F64, .es = sizeof(double), .ta = BN_NO_TRANS, .tb = BN_NO_TRANS,
                  .m = m, .n = n, .k = k, .a = a, .b = b, .lda = lda, .ldb = ldb, .c = c,
                  .ldc = ldc, .alpha = 1.0, .beta = 0.0, .fused = 1, .bias = bias, .act = act,
                  .z = z, .ldz = ldz};
    return gemm_run(&g);
}

int bn_sgemm_sum_b(bn_trans ta, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                   int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                   float *bsum, int *summed)
{
    gemm_job g = {.dt = F32, .es = sizeof(float), .ta = ta, .tb = BN_NO_TRANS, .m = m, .n = n,
                  .k = k, .a = a, .b = b, .lda = lda, .ldb = ldb, .c = c, .ldc = ldc,
                  .alpha = alpha, .beta = beta, .bsum = bsum, .summed = summed};
    *summed = 0;
    return gemm_run(&g);
}

int bn_dgemm_sum_b(bn_trans ta, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                   int64_t lda, const double *b, int64_t ldb, double beta, double *c,
                   int64_t ldc, double *bsum, int *summed)
{
    gemm_job g = {.dt = F64, .es = sizeof(double), .ta = ta, .tb = BN_NO_TRANS, .m = m, .n = n,
                  .k = k, .a = a, .b = b, .lda = lda, .ldb = ldb, .c = c, .ldc = ldc,
                  .alpha = alpha, .beta = beta, .bsum = bsum, .summed = summed};
    *summed = 0;
    return gemm_run(&g);
}

/* ---- op(B) packed once for many products ------------------------------------------------ */

void bn_gemm_packed_b_free(bn_packed_b *p)
{
    if (!p) return;
    free(p->raw);
    free(p);
}

/* *out = op(B) in the packed path's panels when products of m rows would take that path
 * (else NULL: they read B in place, or pack it in a form of their own) */
static int pack_b_for(gemm_job *g, bn_packed_b **out)
{
    *out = NULL;
    if (g->m <= 0 || g->n <= 0 || g->k <= 0) return BN_OK;
    const bn_kernel_set *ks = bn_cpu_kernels();
    if (direct_fits(g, ks, 0) || thin_fits(g, ks) || direct_fits(g, ks, 1)) return BN_OK;
    setup_blocked(g, ks);
    const int64_t npad = ceil_div(g->n, g->nr) * g->nr;
    const int64_t count = bn_size_mul(g->k, npad), bytes = bn_size_mul(count, (int64_t)g->es);
    if (bytes < 0 || (uint64_t)bytes > (uint64_t)SIZE_MAX - 64) return BN_ENOMEM;
    bn_packed_b *p = malloc(sizeof *p);
    if (!p) return BN_ENOMEM;
    p->raw = malloc((size_t)bytes + 64);
    if (!p->raw) {
        free(p);
        return BN_ENOMEM;
    }
    p->data = (char *)(((uintptr_t)p->raw + 63) & ~(uintptr_t)63);
    p->dt = g->dt;
    p->ta = g->ta;
    p->tb = g->tb;
    p->n = g->n;
    p->k = g->k;
    p->kc = g->kc;
    p->nr = g->nr;
    p->npad = npad;
    p->b = g->b;
    p->ldb = g->ldb;
    for (int64_t pc = 0; pc < g->k; pc += g->kc) {
        const int64_t kb = min64(g->kc, g->k - pc);
        for (int64_t j = 0; j < g->n; j += g->nr)
            pack_b(g, pc, j, kb, min64(g->nr, g->n - j),
                   p->data + ((size_t)pc * (size_t)npad + (size_t)j * (size_t)kb) * g->es);
    }
    *out = p;
    return BN_OK;
}

int bn_sgemm_pack_b(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, const float *b,
                    int64_t ldb, bn_packed_b **out)
{
    gemm_job g = {.dt = F32, .es = sizeof(float), .ta = ta, .tb = tb, .m = m, .n = n, .k = k,
                  .b = b, .ldb = ldb, .alpha = 1.0, .reused = 1};
    return pack_b_for(&g, out);
}

int bn_dgemm_pack_b(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, const double *b,
                    int64_t ldb, bn_packed_b **out)
{
    gemm_job g = {.dt = F64, .es = sizeof(double), .ta = ta, .tb = tb, .m = m, .n = n, .k = k,
                  .b = b, .ldb = ldb, .alpha = 1.0, .reused = 1};
    return pack_b_for(&g, out);
}

int bn_sgemm_pb(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                const float *a, int64_t lda, const float *b, int64_t ldb, const bn_packed_b *pb,
                float beta, float *c, int64_t ldc)
{
    gemm_job g = {.dt = F32, .es = sizeof(float), .ta = ta, .tb = tb, .m = m, .n = n, .k = k,
                  .a = a, .b = b, .lda = lda, .ldb = ldb, .c = c, .ldc = ldc,
                  .alpha = alpha, .beta = beta, .pb = pb, .reused = pb != NULL};
    return gemm_run(&g);
}

int bn_dgemm_pb(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, double alpha,
                const double *a, int64_t lda, const double *b, int64_t ldb,
                const bn_packed_b *pb, double beta, double *c, int64_t ldc)
{
    gemm_job g = {.dt = F64, .es = sizeof(double), .ta = ta, .tb = tb, .m = m, .n = n, .k = k,
                  .a = a, .b = b, .lda = lda, .ldb = ldb, .c = c, .ldc = ldc,
                  .alpha = alpha, .beta = beta, .pb = pb, .reused = pb != NULL};
    return gemm_run(&g);
}

#else /* ---- per precision: the packing copies and the fused write-back ---- */

/* op(B) for the thin products' rows kernel when it cannot be read in place: 10 values per
 * k step, zero past n (bufb, row stride 10) */
static void SFX(pack_b_rows)(const gemm_job *g, REAL *pb)
{
    const REAL *b = g->b;
    for (int64_t p = 0; p < g->k; p++, pb += 10)
        for (int64_t j = 0; j < 10; j++)
            pb[j] = j >= g->n ? (REAL)0 : g->tb == BN_TRANS ? b[j * g->ldb + p]
                                                              : b[p * g->ldb + j];
}

BN_INLINE void SFX(copy_steps)(const REAL *src, int64_t ld, int64_t kc, const int w,
                                   REAL *dst)
{
    for (int64_t p = 0; p < kc; p++)
        for (int r = 0; r < w; r++) dst[p * w + r] = src[p * ld + r];
}

/* lines contiguous along k: a transpose, 32 bytes of each line (8 floats, 4 doubles) at a
 * time */
BN_INLINE void SFX(transpose_lines)(const REAL *src, int64_t ld, int64_t kc, const int w,
                                        REAL *dst)
{
    enum { STEP = 32 / (int)sizeof(REAL) };
    int64_t p = 0;
    for (; p + STEP <= kc; p += STEP)
        for (int r = 0; r < w; r++)
            for (int q = 0; q < STEP; q++) dst[(p + q) * w + r] = src[r * ld + p + q];
    for (; p < kc; p++)
        for (int r = 0; r < w; r++) dst[p * w + r] = src[r * ld + p];
}

BN_VECTOR_CLONES
static void SFX(pack_panel)(const REAL *src, int64_t ld, int lines_contiguous, int64_t kc,
                            int64_t wb, int w, REAL *dst)
{
    if (wb == w && !lines_contiguous) {
        switch (w) {
        case 32: SFX(copy_steps)(src, ld, kc, 32, dst); return;
        case 16: SFX(copy_steps)(src, ld, kc, 16, dst); return;
        case 8: SFX(copy_steps)(src, ld, kc, 8, dst); return;
        case 6: SFX(copy_steps)(src, ld, kc, 6, dst); return;
        case 5: SFX(copy_steps)(src, ld, kc, 5, dst); return;
        case 4: SFX(copy_steps)(src, ld, kc, 4, dst); return;
        }
    } else if (wb == w) {
        switch (w) {
        case 16: SFX(transpose_lines)(src, ld, kc, 16, dst); return;
        case 8: SFX(transpose_lines)(src, ld, kc, 8, dst); return;
        case 6: SFX(transpose_lines)(src, ld, kc, 6, dst); return;
        case 5: SFX(transpose_lines)(src, ld, kc, 5, dst); return;
        case 4: SFX(transpose_lines)(src, ld, kc, 4, dst); return;
        }
    }
    for (int64_t p = 0; p < kc; p++)
        for (int64_t r = 0; r < w; r++)
            dst[p * w + r] = r >= wb ? (REAL)0 : lines_contiguous ? src[r * ld + p]
                                                                    : src[p * ld + r];
}

/* sum[0:wb] (+)= the column sums of a packed panel (kc steps of w values), step by step */
BN_VECTOR_CLONES
static void SFX(sum_panel)(REAL *sum, const REAL *pan, int64_t kc, int w, int64_t wb, int first)
{
    REAL acc[32];
    for (int64_t r = 0; r < wb; r++) acc[r] = first ? (REAL)0 : sum[r];
    if (wb == 32 && w == 32)
        for (int64_t p = 0; p < kc; p++)
            for (int r = 0; r < 32; r++) acc[r] += pan[p * 32 + r];
    else
        for (int64_t p = 0; p < kc; p++)
            for (int64_t r = 0; r < wb; r++) acc[r] += pan[p * w + r];
    for (int64_t r = 0; r < wb; r++) sum[r] = acc[r];
}

/* fused write-back: z = c + bias, c = act(z), on a block still in cache. The switch
 * is outside the loops so identity, relu, leaky relu and gelu (verf.h) vectorise; the
 * others call the scalar forms of activations.h (the same expressions, so the same bits). */

BN_VECTOR_CLONES
static void SFX(bias_act)(REAL *c, int64_t ldc, int64_t mb, int64_t nb, const REAL *bias,
                          int32_t act, REAL *z, int64_t ldz)
{
    const REAL slope = (REAL)BN_LEAKY_SLOPE;
    for (int64_t i = 0; i < mb; i++) {
        REAL *ci = c + i * ldc;
        if (bias)
            for (int64_t j = 0; j < nb; j++) ci[j] += bias[j];
        if (z) memcpy(z + i * ldz, ci, (size_t)nb * sizeof *ci);
        switch (act) {
        case BN_ACT_IDENTITY:
        case BN_ACT_SOFTMAX:                       /* row-wise: the layer code applies it */
            break;
        case BN_ACT_RELU:
            for (int64_t j = 0; j < nb; j++) ci[j] = ci[j] > (REAL)0 ? ci[j] : (REAL)0;
            break;
        case BN_ACT_LEAKY_RELU:
            for (int64_t j = 0; j < nb; j++) ci[j] = ci[j] > (REAL)0 ? ci[j] : slope * ci[j];
            break;
        case BN_ACT_GELU:
            for (int64_t j = 0; j < nb; j++) ci[j] = ACT(BN_ACT_GELU, ci[j]);
            break;
        default:
            for (int64_t j = 0; j < nb; j++) ci[j] = ACT(act, ci[j]);
        }
    }
}

#endif
