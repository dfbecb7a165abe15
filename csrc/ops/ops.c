/* ops.c -- the table of layer kinds (ops.h), made from the list in kinds.h, and the helpers
 * the kinds share. Adding a kind: its file in csrc/ops/ and one line in kinds.h. */
#include <stddef.h>

#include "ops.h"

#define BN_KIND_DECLARE(name, op) extern const bn_op op;
BN_LAYER_KIND_LIST(BN_KIND_DECLARE)
#undef BN_KIND_DECLARE

/* the table, in the enum's order (kinds.h) */
#define BN_KIND_ENTRY(name, op) [name] = &op,
static const bn_op *const kinds[BN_LAYER_KINDS] = {BN_LAYER_KIND_LIST(BN_KIND_ENTRY)};
#undef BN_KIND_ENTRY

const bn_op *bn_op_of(int64_t kind)
{
    return kind >= 0 && kind < BN_LAYER_KINDS ? kinds[kind] : NULL;
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
