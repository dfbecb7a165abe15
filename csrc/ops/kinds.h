/* kinds.h -- the list of layer kinds, one line each: the kind's enum name and the table
 * entry (bn_op, ops.h) its file in csrc/ops/ defines. layers.h makes the enum from it and
 * ops.c the table; the Python side reads each kind's name from the table (bn_op.name). */
#ifndef BARENET_KINDS_H
#define BARENET_KINDS_H

#define BN_LAYER_KIND_LIST(X)              \
    X(BN_LAYER_DENSE, bn_op_dense)         \
    X(BN_LAYER_CONV2D, bn_op_conv2d)       \
    X(BN_LAYER_MAXPOOL2D, bn_op_maxpool2d) \
    X(BN_LAYER_AVGPOOL2D, bn_op_avgpool2d) \
    X(BN_LAYER_FLATTEN, bn_op_flatten)     \
    X(BN_LAYER_DROPOUT, bn_op_dropout)     \
    X(BN_LAYER_ADD, bn_op_add)             \
    X(BN_LAYER_CONCATENATE, bn_op_concatenate) \
    X(BN_LAYER_MULTIPLY, bn_op_multiply)   \
    X(BN_LAYER_BATCHNORM, bn_op_batchnorm) \
    X(BN_LAYER_LAYERNORM, bn_op_layernorm) \
    X(BN_LAYER_ACTIVATION, bn_op_activation) \
    X(BN_LAYER_EMBEDDING, bn_op_embedding)  \
    X(BN_LAYER_MASKING, bn_op_masking)      \
    X(BN_LAYER_SIMPLERNN, bn_op_simplernn)  \
    X(BN_LAYER_LSTM, bn_op_lstm)            \
    X(BN_LAYER_GRU, bn_op_gru)

#endif
