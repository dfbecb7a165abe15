/* precision.h -- the one mechanism for code written once for both float and double.
 * A file that needs both precisions writes its precision-dependent part in terms of REAL
 * (the element type), SFX(name) (name_f64 / name_f32) and the names below, then includes
 * this header with BN_PRECISION_FILE naming itself (or its .inc part):
 *
 *     #define BN_PRECISION_FILE "ops/dense.c"
 *     #include "precision.h"
 *
 * which includes that file twice, first with REAL = double, then with REAL = float, and
 * undefines everything afterwards. Inside the included pass REAL is defined, so the file
 * tells its two parts apart by `#ifndef REAL` (once) / `#else` (per precision). Every
 * precision-dependent helper is named here, once; nothing depends on the including file.
 *   GEMM, GEMM_BIAS_ACT, GEMM_REF        gemm.h (bn_dgemm / bn_sgemm, ..._bias_act, ..._ref)
 *   GEMM_PACK_B, GEMM_PB                 gemm.h (bn_?gemm_pack_b, bn_?gemm_pb)
 *   GEMM_SUM_B                           gemm.h (bn_?gemm_sum_b)
 *   SOFTMAX_ROWS                         losses.h
 *   ACT, DACT                            activations.h (scalar forms)
 *   CSR_DENSE_BIAS_ACT, CSR_T_DENSE      sparse.h
 *   POOL_INDEX                           index type max pooling keeps (int64 / int32)
 *   EXP, LOG, LOG1P, FABS, SQRT          <math.h> / vexp.h in the type (bn_exp / bn_expf)
 *   EXP_NONPOS                           vexp.h's exp of x <= 0 (bn_exp_nonpos / bn_expf_nonpos)
 *   IS_F32                               1 in the float pass, 0 in the double pass */
#ifndef BN_PRECISION_FILE
#error "define BN_PRECISION_FILE before including precision.h"
#endif

#define REAL double
#define SFX(name) name##_f64
#define IS_F32 0
#define GEMM bn_dgemm
#define GEMM_BIAS_ACT bn_dgemm_bias_act
#define GEMM_REF bn_dgemm_ref
#define GEMM_PACK_B bn_dgemm_pack_b
#define GEMM_PB bn_dgemm_pb
#define GEMM_SUM_B bn_dgemm_sum_b
#define SOFTMAX_ROWS bn_softmax_rows_f64
#define ACT bn_act_f64
#define DACT bn_dact_f64
#define CSR_DENSE_BIAS_ACT bn_csr_dense_bias_act_f64
#define CSR_T_DENSE bn_csr_t_dense_f64
#define POOL_INDEX int64_t
#define EXP bn_exp
#define EXP_NONPOS bn_exp_nonpos
#define LOG log
#define LOG1P log1p
#define FABS fabs
#define SQRT sqrt
#include BN_PRECISION_FILE
#undef REAL
#undef SFX
#undef IS_F32
#undef GEMM
#undef GEMM_BIAS_ACT
#undef GEMM_REF
#undef GEMM_PACK_B
#undef GEMM_PB
#undef GEMM_SUM_B
#undef SOFTMAX_ROWS
#undef ACT
#undef DACT
#undef CSR_DENSE_BIAS_ACT
#undef CSR_T_DENSE
#undef POOL_INDEX
#undef EXP
#undef EXP_NONPOS
#undef LOG
#undef LOG1P
#undef FABS
#undef SQRT

#define REAL float
#define SFX(name) name##_f32
#define IS_F32 1
#define GEMM bn_sgemm
#define GEMM_BIAS_ACT bn_sgemm_bias_act
#define GEMM_REF bn_sgemm_ref
#define GEMM_PACK_B bn_sgemm_pack_b
#define GEMM_PB bn_sgemm_pb
#define GEMM_SUM_B bn_sgemm_sum_b
#define SOFTMAX_ROWS bn_softmax_rows_f32
#define ACT bn_act_f32
#define DACT bn_dact_f32
#define CSR_DENSE_BIAS_ACT bn_csr_dense_bias_act_f32
#define CSR_T_DENSE bn_csr_t_dense_f32
#define POOL_INDEX int32_t
#define EXP bn_expf
#define EXP_NONPOS bn_expf_nonpos
#define LOG logf
#define LOG1P log1pf
#define FABS fabsf
#define SQRT sqrtf
#include BN_PRECISION_FILE
#undef REAL
#undef SFX
#undef IS_F32
#undef GEMM
#undef GEMM_BIAS_ACT
#undef GEMM_REF
#undef GEMM_PACK_B
#undef GEMM_PB
#undef GEMM_SUM_B
#undef SOFTMAX_ROWS
#undef ACT
#undef DACT
#undef CSR_DENSE_BIAS_ACT
#undef CSR_T_DENSE
#undef POOL_INDEX
#undef EXP
#undef EXP_NONPOS
#undef LOG
#undef LOG1P
#undef FABS
#undef SQRT
#undef BN_PRECISION_FILE
