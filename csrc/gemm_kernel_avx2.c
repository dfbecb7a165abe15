/* gemm_kernel_avx2.c -- placeholder until the packed GEMM lands. */
typedef int bn_placeholder_gemm_kernel_avx2;
