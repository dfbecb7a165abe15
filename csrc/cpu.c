/* cpu.c -- placeholder until the packed GEMM lands. */
typedef int bn_placeholder_cpu;
