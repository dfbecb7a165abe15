/* ops.h -- the table of layer kinds. Each kind is one file in csrc/ops/ that fills one
 * bn_op: its parameter and weight counts, the scratch it needs, what it keeps for
 * backward, a check of its descriptor, and its forward and backward for both precisions
 * (written once, precision.h). The graph executor (graph.c) calls kinds only through
 * bn_op_of(); kinds.h lists them, one line each. An unknown kind has no entry (NULL),
 * which the executor reports as BN_ENET before anything runs.
 * Size letters: N rows, S values per sample of the node's output, S_i of its input i. */
#ifndef BARENET_OPS_H
#define BARENET_OPS_H

#include <stdint.h>

#include "../gemm.h"
#include "../layers.h"
#include "../net.h"

#define BN_MAX_INPUTS 64 /* inputs of one node (Concatenate of more is refused) */

/* what a forward or backward call of one node sees; pointers are of the parameter type */
typedef struct {
    const bn_net *net;
    const bn_layer *ly;        /* the node */
    int64_t n;                 /* N */
    const void *const *in;     /* (n_inputs): input i, (N, S_i) */
    const bn_csr_rows *xs;     /* CSR rows as a dense node's only input (in[0] unused), or NULL */
    void *a;                   /* (N, S) the output */
    void *z;                   /* (N, S) the pre-activation, when kept (keeps_z), else NULL */
    void *stats;               /* (2N) a softmax output's row statistics, or NULL */
    void *cols;                /* (N, scratch) the kind's own scratch */
    void *dw_scratch;          /* (BN_DW_SCRATCH) for weight gradients (layers.h) */
    const void *params;        /* the flat parameter buffer */
    const bn_dropout *drop;    /* training position; NULL: not training (dropout is identity) */
    void *state;               /* the network's state buffer (read when not training;
                                * update_state writes it), or NULL */
    const void *mask;          /* (N, T) the step mask of its input (ly->mask_from), or NULL:
                                * every step valid */
    void *mask_out;            /* (N, T) where it writes its output's step mask (ly->mask_out),
                                * else NULL */
    void *carry;               /* (N, carry_count) state carried in and out over calls
                                * (prediction only: read before the first step, written after
                                * the last), or NULL: start from zeros, keep nothing */
    void *fixed;               /* the node's fixed-size scratch (training only), or NULL */
    /* backward only */
    void *dparams;             /* the flat gradient buffer: the node writes its parameters' part */
    void *d;                   /* (N, S) dloss/d(output), or dloss/dz for the output node
                                * (is_output); the node may overwrite it */
    void *const *din;          /* (n_inputs): where dloss/d(input i) goes; NULL: not needed */
    const int *din_add;        /* (n_inputs): 1 where it goes by adding to what din[i] holds
                                * (the input fans out and another node wrote there first):
                                * kinds with adds_into only, else all 0 */
    const void *zk;            /* z when kept, else the output a (derivatives from a) */
    int is_output;
    double l1, l2;             /* weight penalty: dw += l1 sign(w) + l2 w */
} bn_op_args;

typedef int (*bn_op_fn)(const bn_op_args *g);

/* A kind's entry, written with designated initialisers: a count function left NULL counts
 * 0, keeps_z NULL keeps nothing, update_state NULL has no state to update. */
typedef struct {
    const char *name;
    int64_t min_inputs, max_inputs;
    /* values in the flat buffer, and how many of them are weights (the penalty's) */
    int64_t (*param_count)(const bn_layer *ly);
    int64_t (*weight_count)(const bn_layer *ly);
    /* values of the state buffer it owns (running statistics) */
    int64_t (*state_count)(const bn_layer *ly);
    /* scratch elements per row (cols), shared with the other nodes */
    int64_t (*scratch)(const bn_layer *ly);
    /* its own scratch elements, not per row, kept from forward to backward (training) */
    int64_t (*fixed)(const bn_layer *ly);
    /* values per row of the state it carries from one prediction call to the next (a
     * recurrent kind's last h, c; attention's key/value cache); NULL: none */
    int64_t (*carry_count)(const bn_layer *ly);
    int makes_mask;            /* 1 when it can compute its output's step mask (mask_out) */
    /* 1 if the pre-activation z must be kept for backward (is_output: the network's output) */
    int (*keeps_z)(const bn_layer *ly, int is_output);
    /* values per row of z when it is kept (NULL: S; a recurrent layer keeps every step) */
    int64_t (*kept)(const bn_layer *ly);
    /* 1 when the descriptor is consistent with its inputs' shapes; net gives the inputs */
    int (*check)(const bn_net *net, const bn_layer *ly);
    int identity_in_predict;   /* the output is the input when not training (dropout) */
    /* 1 when its backward can add its input gradients into din (din_add) instead of
     * writing them: a fan-out's later writer then needs no temporary and no pass adding it
     * (graph.c); the sum is the same one, so the same bits */
    int adds_into;
    bn_op_fn forward[2];       /* [0] double, [1] float */
    bn_op_fn backward[2];
    bn_op_fn update_state[2];  /* after a training step (in, fixed, state); NULL: none */
} bn_op;

/* the entry of a kind, or NULL for a value that is no kind */
const bn_op *bn_op_of(int64_t kind);

/* a count of a kind's entry (fn may be NULL: 0), and whether it keeps z */
int64_t bn_op_count(int64_t (*fn)(const bn_layer *), const bn_layer *ly);
int bn_op_keeps_z(const bn_op *op, const bn_layer *ly, int is_output);
int64_t bn_op_out_size(const bn_layer *ly);
int64_t bn_op_in_size(const bn_layer *ly);
/* the shape (h, w, c) of input i of node ly (the network input for index -1) */
void bn_op_input_shape(const bn_net *net, const bn_layer *ly, int64_t i, int64_t shape[3]);


#endif
