/* gemm_kernel_generic.c -- placeholder until the packed GEMM lands. */
typedef int bn_placeholder_gemm_kernel_generic;
