/* ops.c -- the one table of layer kinds (ops.h) and the helpers they share. Adding a kind:
 * its file in csrc/ops/, its enum value in layers.h, and one line here. */
#include <stddef.h>

#include "ops.h"

const bn_op *bn_op_of(int64_t kind)
{
    switch ((bn_layer_kind)kind) {
    case BN_LAYER_DENSE: return &bn_op_dense;
    case BN_LAYER_CONV2D: return &bn_op_conv2d;
    case BN_LAYER_MAXPOOL2D: return &bn_op_maxpool2d;
    case BN_LAYER_AVGPOOL2D: return &bn_op_avgpool2d;
    case BN_LAYER_FLATTEN: return &bn_op_flatten;
    case BN_LAYER_DROPOUT: return &bn_op_dropout;
    case BN_LAYER_ADD: return &bn_op_add;
    case BN_LAYER_CONCATENATE: return &bn_op_concatenate;
    case BN_LAYER_MULTIPLY: return &bn_op_multiply;
    case BN_LAYER_BATCHNORM: return &bn_op_batchnorm;
    case BN_LAYER_LAYERNORM: return &bn_op_layernorm;
    case BN_LAYER_KINDS: break;
    }
    return NULL; /* no such kind: -Wswitch-enum names a kind missing above */
}

int64_t bn_op_count(int64_t (*fn)(const bn_layer *), const bn_layer *ly)
{
    return fn ? fn(ly) : 0;
}

int bn_op_keeps_z(const bn_op *op, const bn_layer *ly, int is_output)
{
    return op->keeps_z ? op->keeps_z(ly, is_output) : 0;
}

int64_t bn_op_out_size(const bn_layer *ly) { return ly->out_h * ly->out_w * ly->out_c; }

int64_t bn_op_in_size(const bn_layer *ly) { return ly->in_h * ly->in_w * ly->in_c; }

void bn_op_input_shape(const bn_net *net, const bn_layer *ly, int64_t i, int64_t shape[3])
{
    const int64_t j = net->inputs[ly->first_input + i];
    const bn_layer *src = j < 0 ? NULL : &net->layers[j];
    shape[0] = src ? src->out_h : net->in_h;
    shape[1] = src ? src->out_w : net->in_w;
    shape[2] = src ? src->out_c : net->in_c;
}
