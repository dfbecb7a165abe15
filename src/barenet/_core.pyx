# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: freethreading_compatible=True
"""Thin bindings to barenet's C core (csrc/). Typed memoryviews in, one C call with the
GIL released, a status code turned into an exception. Python has validated every shape,
dtype and value before anything here runs (barenet/_compiled_backend.py).

Free-threaded CPython (3.14t): this module keeps no state that the GIL guarded. Its C calls
already run without the GIL; a network's own lock (network._exclusive) keeps one Net to one
thread at a time; the C core's shared state is set once (cpu.c's kernel choice), per thread
(gemm.c's packing buffers, interrupt.c's listener) or only by the main thread (interrupt.c's
handler, installed by barenet.training.catch_interrupts there). Hence the directive above."""

from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memset
from libc.stdint cimport int32_t, int64_t, uint64_t
import numpy as np

cdef extern from "gemm.h" nogil:
    int BN_OK
    int BN_ENOMEM

cdef extern from "optimizers.h" nogil:
    ctypedef enum bn_optimizer_kind:
        BN_OPT_SGD, BN_OPT_MOMENTUM, BN_OPT_NESTEROV, BN_OPT_RMSPROP, BN_OPT_ADAM, BN_OPT_ADAMW
    # the fields as csrc/optimizers.h declares them (filled by name, _optimizer below)
    ctypedef struct bn_optimizer:
        int32_t kind
        double lr, momentum, rho, beta1, beta2, eps, weight_decay
        int64_t step
        double clipvalue, clipnorm
        int32_t decay_weights_only

cdef extern from "layers.h" nogil:
    int BN_LAYER_KINDS

cdef extern from "ops/ops.h" nogil:
    ctypedef struct bn_op:
        const char *name
    const bn_op *bn_op_of(int64_t kind)

cdef extern from "activations.h" nogil:
    ctypedef enum bn_activation:
        BN_ACT_IDENTITY, BN_ACT_RELU, BN_ACT_SIGMOID, BN_ACT_TANH, BN_ACT_LEAKY_RELU,
        BN_ACT_GELU, BN_ACT_SOFTMAX, BN_ACT_EXP

cdef extern from "losses.h" nogil:
    ctypedef enum bn_loss:
        BN_LOSS_BCE, BN_LOSS_CROSS_ENTROPY, BN_LOSS_MSE, BN_LOSS_POISSON, BN_LOSS_SPARSE_CE

cdef extern from "net.h" nogil:
    # the fields as csrc/layers.h declares them (a field declared here but not there fails
    # to compile; one there but not here fails at import, by bn_layer's size)
    ctypedef struct bn_layer:
        int64_t kind, activation
        int64_t in_h, in_w, in_c
        int64_t out_h, out_w, out_c
        int64_t kh, kw, sh, sw
        int64_t pad_top, pad_left
        int64_t w_offset, b_offset
        int64_t stream
        int64_t first_input, n_inputs
        int64_t s_offset
        int64_t mask_from, table_rows, mask_out
        int64_t directions, go_backwards, return_sequences, reset_after
        double rate
        double momentum, eps
        double mask_value
        int64_t heads, key_dim, causal
    ctypedef struct bn_node_plan:
        int64_t a, z  # training workspace: a node's output and kept z (-1: not kept)
    ctypedef struct bn_csr_rows:
        const int64_t *indptr
        const int64_t *indices
        const void *data
        const int64_t *rows
    ctypedef struct bn_net:
        int64_t n_layers
        const bn_layer *layers
        const int64_t *inputs
        int64_t n_edges
        int64_t in_h, in_w, in_c
        int32_t input_chw
        int32_t loss
        int64_t n_params
        int64_t n_state
        bn_node_plan *plan
        int32_t *edge_acc
        int64_t carry_size
        int64_t y_size
    ctypedef struct bn_dropout:
        uint64_t seed
        int64_t epoch, batch
        int64_t row
    ctypedef struct bn_train_config:
        int64_t batch_size
        int32_t shuffle
        uint64_t seed
        int64_t epoch
        double l1, l2
        int64_t warmup_steps, decay_steps
        double min_lr
    int BN_ENET
    int BN_EOVERFLOW
    int bn_net_plan(bn_net *net, int64_t *scratch)
    int64_t bn_net_workspace_size(const bn_net *net, int64_t b)
    int64_t bn_net_output_offset(const bn_net *net, int64_t b)
    int64_t bn_net_predict_workspace_size(const bn_net *net, int64_t n)
    int bn_net_forward_f64(const bn_net *net, double *work, const double *params,
                           const double *state, const double *x, const bn_csr_rows *xs,
                           int64_t n, const bn_dropout *drop)
    int bn_net_forward_f32(const bn_net *net, float *work, const float *params,
                           const float *state, const float *x, const bn_csr_rows *xs,
                           int64_t n, const bn_dropout *drop)
    double bn_net_loss_f64(const bn_net *net, const double *work, const double *y,
                           const double *sw, int64_t n)
    double bn_net_loss_f32(const bn_net *net, const float *work, const float *y,
                           const float *sw, int64_t n)
    double bn_net_penalty_f64(const bn_net *net, const double *params, double l1, double l2)
    double bn_net_penalty_f32(const bn_net *net, const float *params, double l1, double l2)
    int bn_net_backward_f64(const bn_net *net, double *dparams, double *work,
                            const double *params, const double *state, const double *x,
                            const bn_csr_rows *xs, const double *y, const double *sw, int64_t n,
                            const bn_dropout *drop, double l1, double l2)
    int bn_net_backward_f32(const bn_net *net, float *dparams, float *work,
                            const float *params, const float *state, const float *x,
                            const bn_csr_rows *xs, const float *y, const float *sw, int64_t n,
                            const bn_dropout *drop, double l1, double l2)
    int bn_net_predict_f64(const bn_net *net, double *out, double *work, const double *params,
                           const double *state, const double *x, const bn_csr_rows *xs,
                           int64_t n, double *carry)
    int bn_net_predict_f32(const bn_net *net, float *out, float *work, const float *params,
                           const float *state, const float *x, const bn_csr_rows *xs,
                           int64_t n, float *carry)
    int bn_net_generate_f64(const bn_net *net, double *proba, int64_t v, double *work,
                            const double *params, const double *state, double *x,
                            double *carry, int64_t b, int64_t steps, const double *uniforms,
                            double temperature, int64_t top_k, double *scratch,
                            int64_t *tokens, int64_t ldt, int more)
    int bn_net_generate_f32(const bn_net *net, float *proba, int64_t v, float *work,
                            const float *params, const float *state, float *x, float *carry,
                            int64_t b, int64_t steps, const double *uniforms,
                            double temperature, int64_t top_k, double *scratch,
                            int64_t *tokens, int64_t ldt, int more)
    int BN_ENONFINITE_OUTPUT
    int64_t bn_first_nonfinite_f64(const double *x, int64_t count)
    int64_t bn_first_nonfinite_f32(const float *x, int64_t count)
    int BN_EINTERRUPTED
    int BN_EDIVERGED
    int BN_EREDUCE
    ctypedef int (*bn_reduce_fn)(void *ctx, int64_t part, void *dparams, double *loss,
                                 int64_t rows, int64_t batch_rows) noexcept nogil
    ctypedef struct bn_reduce:
        bn_reduce_fn fn
        void *ctx
        int64_t parts, first, last
    int bn_net_train_f64(const bn_net *net, const bn_train_config *cfg, bn_optimizer *opt,
                         double *losses, int64_t *completed, int64_t epochs, double *params,
                         double *state, double *dparams, double *state1, double *state2,
                         double *backup, double *work, int64_t *perm, uint64_t *scratch,
                         const double *x, const bn_csr_rows *xs, const double *y,
                         const double *sw, int64_t n, const bn_reduce *reduce)
    int bn_net_train_f32(const bn_net *net, const bn_train_config *cfg, bn_optimizer *opt,
                         double *losses, int64_t *completed, int64_t epochs, float *params,
                         float *state, float *dparams, float *state1, float *state2,
                         float *backup, float *work, int64_t *perm, uint64_t *scratch,
                         const float *x, const bn_csr_rows *xs, const float *y,
                         const float *sw, int64_t n, const bn_reduce *reduce)

cdef extern from "interrupt.h" nogil:
    int bn_interrupt_install()
    int bn_interrupt_restore()
    int bn_interrupt_pending()
    int bn_interrupt_take()

cdef extern from *:
    """
    #ifdef _OPENMP
    #define BN_BUILT_WITH_OPENMP 1
    #else
    #define BN_BUILT_WITH_OPENMP 0
    #endif
    """
    int BN_BUILT_WITH_OPENMP

# the C enums by the names Python uses (the numbers come from the headers, only here)
# (layer kinds by the name each one's table entry gives, csrc/ops/kinds.h)
LAYER_KINDS = {bn_op_of(k).name.decode(): k for k in range(BN_LAYER_KINDS)}
ACTIVATIONS = {"identity": BN_ACT_IDENTITY, "relu": BN_ACT_RELU, "sigmoid": BN_ACT_SIGMOID,
               "tanh": BN_ACT_TANH, "leaky_relu": BN_ACT_LEAKY_RELU, "gelu": BN_ACT_GELU,
               "softmax": BN_ACT_SOFTMAX, "exp": BN_ACT_EXP}
LOSSES = {"binary_crossentropy": BN_LOSS_BCE, "categorical_crossentropy": BN_LOSS_CROSS_ENTROPY,
          "mse": BN_LOSS_MSE, "poisson": BN_LOSS_POISSON,
          "sparse_categorical_crossentropy": BN_LOSS_SPARSE_CE}


OPTIMIZER_KINDS = {"sgd": BN_OPT_SGD, "momentum": BN_OPT_MOMENTUM,
                   "nesterov": BN_OPT_NESTEROV, "rmsprop": BN_OPT_RMSPROP, "adam": BN_OPT_ADAM,
                   "adamw": BN_OPT_ADAMW}


cdef bn_optimizer _optimizer(dict config) except *:
    """a bn_optimizer from barenet.optimizers' c_config: its fields by name ("kind" by the
    kind's name), those not given 0"""
    cdef bn_optimizer zero
    memset(&zero, 0, sizeof(bn_optimizer))
    row = <dict>zero
    extra = set(config) - set(row)
    if extra:
        raise ValueError(f"no bn_optimizer field {sorted(extra)}")
    row.update(config)
    row["kind"] = OPTIMIZER_KINDS[row["kind"]]
    return row


cdef dict _zero_layer():
    cdef bn_layer zero
    memset(&zero, 0, sizeof(bn_layer))
    return zero

# bn_layer's fields, read from the struct itself (Python fills them by name)
LAYER_FIELDS = tuple(_zero_layer())
# every field is 8 bytes: a field of layers.h that the declaration above lacks would be left
# uninitialised when a dict is converted, so the two must agree exactly
if sizeof(bn_layer) != 8 * len(LAYER_FIELDS):
    raise ImportError(f"barenet._core: bn_layer has {sizeof(bn_layer)} bytes in csrc/layers.h "
                      f"but _core.pyx declares {len(LAYER_FIELDS)} fields: declare them all")


ctypedef fused floating:
    float
    double


cdef int _check(int status) except -1:
    if status == BN_ENOMEM:
        raise MemoryError("barenet: the C core could not allocate its buffers")
    if status != BN_OK:
        raise RuntimeError(f"barenet: the C core returned status {status}")
    return 0


cdef int64_t _size(int64_t size, str what, int64_t rows) except -1:
    """a workspace size from net.h, or ValueError for its -1 (does not fit in int64)"""
    if size < 0:
        raise ValueError(f"barenet: the {what} workspace for {rows} rows does not fit in "
                         "int64 elements (the network's activations are too large)")
    return size


def build_info():
    """facts about this build of the C core, for `barenet info`"""
    return {"openmp": bool(BN_BUILT_WITH_OPENMP)}


cdef const bn_csr_rows *_csr(bn_csr_rows *out, const int64_t[::1] indptr,
                             const int64_t[::1] indices, const floating[::1] data):
    """out pointing at a CSR matrix's arrays (rows 0..N-1), or NULL when indptr is None"""
    if indptr is None:
        return NULL
    out.indptr = &indptr[0]
    out.indices = &indices[0] if indices.shape[0] else NULL
    out.data = &data[0] if data.shape[0] else NULL
    out.rows = NULL
    return out


cdef class Net:
    """A network description for C (net.h): nodes, each a dict of bn_layer fields by name
    with "kind" and "activation" given by their names (LAYER_KINDS, ACTIVATIONS), in
    topological order; inputs, the nodes' input indices (-1: the network input) that each
    node's first_input / n_inputs point into; the network input's (h, w, c) channels last.
    bn_net_plan checks it all and lays out the workspaces."""
    cdef bn_net net
    cdef bn_layer *_layers
    cdef int64_t *_inputs
    cdef bn_node_plan *_plan
    cdef int32_t *_edge_acc

    def __cinit__(self):
        self._layers = NULL
        self._inputs = NULL
        self._plan = NULL
        self._edge_acc = NULL

    def __init__(self, list nodes, const int64_t[::1] inputs, tuple input_hwc,
                 bint input_chw, str loss, int64_t n_params, int64_t n_state=0):
        cdef Py_ssize_t i, n = len(nodes), m = inputs.shape[0]
        cdef int64_t *scratch
        cdef int status
        if n == 0 or loss not in LOSSES:
            raise ValueError("a network needs at least one node and a known loss")
        self._layers = <bn_layer *>PyMem_Malloc(n * sizeof(bn_layer))
        self._inputs = <int64_t *>PyMem_Malloc((m + 1) * sizeof(int64_t))
        self._plan = <bn_node_plan *>PyMem_Malloc(n * sizeof(bn_node_plan))
        self._edge_acc = <int32_t *>PyMem_Malloc((m + 1) * sizeof(int32_t))
        scratch = <int64_t *>PyMem_Malloc(2 * n * sizeof(int64_t))
        if not (self._layers and self._inputs and self._plan and self._edge_acc and scratch):
            PyMem_Free(scratch)
            raise MemoryError()
        try:
            zero = _zero_layer()
            for i in range(n):
                row = dict(zero)
                row["s_offset"] = -1
                row["mask_from"] = -1
                extra = set(nodes[i]) - set(zero)
                if extra:
                    raise ValueError(f"node {i}: no bn_layer field {sorted(extra)}")
                row.update(nodes[i])
                row["kind"] = LAYER_KINDS[row["kind"]]
                row["activation"] = ACTIVATIONS[row.get("activation") or "identity"]
                self._layers[i] = row
            for i in range(m):
                self._inputs[i] = inputs[i]
            self.net.n_layers = n
            self.net.layers = self._layers
            self.net.inputs = self._inputs
            self.net.n_edges = m
            self.net.in_h, self.net.in_w, self.net.in_c = input_hwc
            self.net.input_chw = input_chw
            self.net.loss = LOSSES[loss]
            self.net.n_params = n_params
            self.net.n_state = n_state
            self.net.plan = self._plan
            self.net.edge_acc = self._edge_acc
            status = bn_net_plan(&self.net, scratch)
        finally:
            PyMem_Free(scratch)
        if status == BN_EOVERFLOW:
            raise ValueError("barenet: a size of this network does not fit in int64 (csrc/checked.h)")
        if status != BN_OK:
            raise ValueError("barenet: the C core refused this network's description "
                             f"(status {status}); this is a bug in barenet's checks")

    def __dealloc__(self):
        PyMem_Free(self._layers)
        PyMem_Free(self._inputs)
        PyMem_Free(self._plan)
        PyMem_Free(self._edge_acc)

    def workspace_size(self, int64_t b):
        """elements of the training workspace for batches of b rows"""
        return _size(bn_net_workspace_size(&self.net, b), "training", b)

    def output_offset(self, int64_t b):
        return bn_net_output_offset(&self.net, b)

    def node_offsets(self):
        """per node, (a, z): where its output and its kept pre-activation start in the
        training workspace, in elements per row (for n rows at n * offset; z -1: not kept)"""
        return [(self.net.plan[i].a, self.net.plan[i].z) for i in range(self.net.n_layers)]

    def forward(self, floating[::1] work, const floating[::1] params,
                const floating[::1] state, const floating[:, ::1] x, int64_t n,
                const int64_t[::1] indptr=None, const int64_t[::1] indices=None,
                const floating[::1] data=None):
        """the forward pass of n rows through the training workspace, not training (no
        dropout, running statistics): every node's output stays there (node_offsets).
        CSR input: x None, indptr/indices/data."""
        cdef int status
        cdef bn_csr_rows csr
        cdef const bn_csr_rows *xs = _csr(&csr, indptr, indices, data)
        cdef const floating *xp = NULL
        if x is not None:
            xp = &x[0, 0]
        cdef const floating *st = &state[0] if state.shape[0] else NULL
        with nogil:
            if floating is float:
                status = bn_net_forward_f32(&self.net, &work[0], &params[0], st, xp, xs, n,
                                            NULL)
            else:
                status = bn_net_forward_f64(&self.net, &work[0], &params[0], st, xp, xs, n,
                                            NULL)
        _check(status)

    @property
    def carry_size(self):
        """values per row of the state the recurrent nodes carry over prediction calls"""
        return self.net.carry_size

    def predict_workspace_size(self, int64_t n):
        """elements of the prediction workspace for n rows"""
        return _size(bn_net_predict_workspace_size(&self.net, n), "prediction", n)

    def evaluate(self, floating[::1] work, const floating[::1] params,
                 const floating[::1] state, const floating[:, ::1] x,
                 const floating[:, ::1] y, double l1, double l2,
                 floating[::1] dparams=None, const floating[::1] sw=None,
                 const int64_t[::1] indptr=None, const int64_t[::1] indices=None,
                 const floating[::1] data=None, tuple drop=None):
        """forward and (data loss + penalty), rows weighted by sw when given; with dparams,
        backward too. Not training (no dropout, running statistics) unless drop = (seed,
        epoch, batch) gives a training position, whose dropout masks and batch statistics
        it then uses (the state is not updated). CSR input: x None, indptr/indices/data."""
        cdef int status
        cdef double value = 0.0
        cdef bn_csr_rows csr
        cdef const bn_csr_rows *xs = _csr(&csr, indptr, indices, data)
        cdef const floating *xp = NULL
        cdef bn_dropout position
        cdef const bn_dropout *dp = NULL
        if drop is not None:
            position.seed, position.epoch, position.batch = drop[:3]
            position.row = drop[3] if len(drop) > 3 else 0
            dp = &position
        if x is not None:
            xp = &x[0, 0]
        cdef const floating *st = &state[0] if state.shape[0] else NULL
        cdef int64_t n = y.shape[0]
        cdef bint grad = dparams is not None
        cdef const floating *w = &sw[0] if sw is not None else NULL
        with nogil:
            if floating is float:
                status = bn_net_forward_f32(&self.net, &work[0], &params[0], st, xp, xs, n, dp)
                if status == BN_OK:
                    value = (bn_net_loss_f32(&self.net, &work[0], &y[0, 0], w, n)
                             + bn_net_penalty_f32(&self.net, &params[0], l1, l2))
                if status == BN_OK and grad:
                    status = bn_net_backward_f32(&self.net, &dparams[0], &work[0], &params[0],
                                                 st, xp, xs, &y[0, 0], w, n, dp, l1, l2)
            else:
                status = bn_net_forward_f64(&self.net, &work[0], &params[0], st, xp, xs, n, dp)
                if status == BN_OK:
                    value = (bn_net_loss_f64(&self.net, &work[0], &y[0, 0], w, n)
                             + bn_net_penalty_f64(&self.net, &params[0], l1, l2))
                if status == BN_OK and grad:
                    status = bn_net_backward_f64(&self.net, &dparams[0], &work[0], &params[0],
                                                 st, xp, xs, &y[0, 0], w, n, dp, l1, l2)
        _check(status)
        return value

    def penalty(self, const floating[::1] params, double l1, double l2):
        """l1 sum|W| + l2/2 sum W^2 over the weights"""
        cdef double value
        with nogil:
            if floating is float:
                value = bn_net_penalty_f32(&self.net, &params[0], l1, l2)
            else:
                value = bn_net_penalty_f64(&self.net, &params[0], l1, l2)
        return value

    def predict(self, floating[:, ::1] out, floating[::1] work, const floating[::1] params,
                const floating[::1] state, const floating[:, ::1] x,
                const int64_t[::1] indptr=None, const int64_t[::1] indices=None,
                const floating[::1] data=None, floating[::1] carry=None):
        """out = the network's output for x; carry (N * carry_size), when given, is the
        recurrent nodes' state: read as the initial state, overwritten with the final one"""
        cdef int status
        cdef bn_csr_rows csr
        cdef const bn_csr_rows *xs = _csr(&csr, indptr, indices, data)
        cdef const floating *xp = NULL
        cdef floating *cp = NULL
        if x is not None:
            xp = &x[0, 0]
        cdef const floating *st = &state[0] if state.shape[0] else NULL
        cdef int64_t n = out.shape[0]
        if carry is not None:
            if carry.shape[0] != n * self.net.carry_size:
                raise ValueError(f"carry must hold {n * self.net.carry_size} values")
            if carry.shape[0]:
                cp = &carry[0]
        with nogil:
            if floating is float:
                status = bn_net_predict_f32(&self.net, &out[0, 0], &work[0], &params[0], st,
                                            xp, xs, n, cp)
            else:
                status = bn_net_predict_f64(&self.net, &out[0, 0], &work[0], &params[0], st,
                                            xp, xs, n, cp)
        _check(status)

    def generate(self, floating[:, ::1] proba, floating[::1] work, const floating[::1] params,
                 const floating[::1] state, floating[:, ::1] x, floating[::1] carry,
                 const double[::1] uniforms, double temperature, int64_t top_k,
                 double[::1] scratch, int64_t[:, ::1] tokens, int64_t first, int64_t steps,
                 bint more=False):
        """bn_net_generate: tokens[:, first:first + steps] sampled from proba (the
        prediction after the prompt, then each step's) with uniforms (steps * b values; none
        for temperature 0), x (b, 1) and carry the one-step model's input and state; more:
        proba left with the probabilities after the last token (for a next call); returns
        False when a row of probabilities was not finite, else True"""
        cdef int64_t b = proba.shape[0], v = proba.shape[1]
        cdef const bn_layer *last = &self.net.layers[self.net.n_layers - 1]
        cdef int status
        cdef const floating *st = &state[0] if state.shape[0] else NULL
        cdef const double *up = &uniforms[0] if uniforms.shape[0] else NULL
        cdef floating *cp = &carry[0] if carry.shape[0] else NULL
        if v != last.out_h * last.out_w * last.out_c or b < 1 or x.shape[0] != b \
                or x.shape[1] != 1 or carry.shape[0] != b * self.net.carry_size \
                or tokens.shape[0] != b or first < 0 \
                or steps < 0 or first + steps > tokens.shape[1] \
                or (temperature != 0 and uniforms.shape[0] != steps * b) \
                or scratch.shape[0] < 2 * v \
                or work.shape[0] < max(1, self.predict_workspace_size(b)) \
                or top_k < 0 or not temperature >= 0:
            raise ValueError("generate: inconsistent buffers for the network")
        if steps == 0:
            return True
        with nogil:
            if floating is float:
                status = bn_net_generate_f32(&self.net, &proba[0, 0], v, &work[0], &params[0],
                                             st, &x[0, 0], cp, b, steps, up,
                                             temperature, top_k, &scratch[0],
                                             &tokens[0, first], tokens.shape[1], more)
            else:
                status = bn_net_generate_f64(&self.net, &proba[0, 0], v, &work[0], &params[0],
                                             st, &x[0, 0], cp, b, steps, up,
                                             temperature, top_k, &scratch[0],
                                             &tokens[0, first], tokens.shape[1], more)
        if status == BN_ENONFINITE_OUTPUT:
            return False
        _check(status)
        return True

    def train(self, double[::1] losses, floating[::1] params, floating[::1] state,
              floating[::1] dparams, floating[::1] state1, floating[::1] state2,
              floating[::1] backup, floating[::1] work, int64_t[::1] perm,
              uint64_t[::1] scratch, const floating[:, ::1] x, const floating[:, ::1] y,
              dict config, dict optimizer, const floating[::1] sw=None,
              const int64_t[::1] indptr=None, const int64_t[::1] indices=None,
              const floating[::1] data=None, reduce=None):
        """len(losses) epochs of bn_net_train; config holds the bn_train_config fields and
        optimizer the bn_optimizer ones; backup has 3 n_params + n_state values. While
        interrupt_install() is in effect in this thread, SIGINT stops the loop
        (interrupt.h). reduce = (fn, parts, first, last) makes it data-parallel (net.h,
        bn_reduce): fn(part, loss, rows, batch_rows) is called with the GIL after each
        part's backward, reads and replaces `dparams` in place and returns the loss (the
        global one after part last-1), or None when a process saw Ctrl-C; an exception it
        raises ends the call and is raised here. Returns (optimizer step afterwards,
        epochs completed, "ok" | "interrupted" | "diverged")."""
        cdef bn_train_config cfg
        cdef bn_reduce red
        cdef const bn_reduce *rp = NULL
        cdef list hook = None
        if reduce is not None:
            hook = [reduce[0], None]  # the Python function, the exception it raised
            red.fn = _reduce_hook
            red.ctx = <void *>hook
            red.parts, red.first, red.last = reduce[1:]
            if not 0 <= red.first < red.last <= red.parts:
                raise ValueError("reduce needs 0 <= first < last <= parts")
            rp = &red
        cdef bn_optimizer opt
        cdef int status
        cdef int64_t n = y.shape[0], epochs = losses.shape[0], completed = 0
        cdef bn_csr_rows csr
        cdef const bn_csr_rows *xs = _csr(&csr, indptr, indices, data)
        cdef const floating *xp = NULL
        if x is not None:
            xp = &x[0, 0]
        if backup.shape[0] < 3 * params.shape[0] + state.shape[0]:
            raise ValueError("backup must hold 3 n_params + n_state values")
        cdef floating *st = &state[0] if state.shape[0] else NULL
        cdef floating *s1 = &state1[0] if state1.shape[0] else NULL
        cdef floating *s2 = &state2[0] if state2.shape[0] else NULL
        cdef const floating *w = &sw[0] if sw is not None else NULL
        cfg = config  # bn_train_config by field name (net.h; every field given)
        opt = _optimizer(optimizer)
        with nogil:
            if floating is float:
                status = bn_net_train_f32(&self.net, &cfg, &opt, &losses[0], &completed,
                                          epochs, &params[0], st, &dparams[0], s1, s2,
                                          &backup[0], &work[0], &perm[0], &scratch[0],
                                          xp, xs, &y[0, 0], w, n, rp)
            else:
                status = bn_net_train_f64(&self.net, &cfg, &opt, &losses[0], &completed,
                                          epochs, &params[0], st, &dparams[0], s1, s2,
                                          &backup[0], &work[0], &perm[0], &scratch[0],
                                          xp, xs, &y[0, 0], w, n, rp)
        if status == BN_EREDUCE and hook is not None and hook[1] is not None:
            raise hook[1]
        if status == BN_EINTERRUPTED:
            return opt.step, completed, "interrupted"
        if status == BN_EDIVERGED:
            return opt.step, completed, "diverged"
        _check(status)
        return opt.step, completed, "ok"


cdef int _reduce_hook(void *ctx, int64_t part, void *dparams, double *loss, int64_t rows,
                      int64_t batch_rows) noexcept nogil:
    """bn_reduce_fn (net.h): the GIL only for the Python reduction, hook = [fn, error]"""
    with gil:
        hook = <list>ctx
        try:
            out = hook[0](part, loss[0], rows, batch_rows)
        except BaseException as exc:
            hook[1] = exc
            return BN_EREDUCE
        if out is None:
            return BN_EINTERRUPTED
        loss[0] = out
        return BN_OK



# ---- GEMM bindings ----
# Thin wrappers over csrc/gemm.h for tests, benchmarks and `barenet info`; shapes, dtypes and
# strides are validated in barenet/_gemm.py. Operands may have a leading dimension larger than
# their width (row stride) but their rows must be contiguous.

cdef extern from "gemm.h" nogil:
    ctypedef enum bn_trans:
        BN_NO_TRANS
        BN_TRANS
    int bn_sgemm(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                 float *c, int64_t ldc)
    int bn_dgemm(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, double alpha,
                 const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                 double *c, int64_t ldc)
    void bn_sgemm_ref(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc)
    void bn_dgemm_ref(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, double alpha,
                      const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                      double *c, int64_t ldc)
    int bn_sgemm_sum_b(bn_trans ta, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                       float *c, int64_t ldc, float *bsum, int *summed)
    int bn_dgemm_sum_b(bn_trans ta, int64_t m, int64_t n, int64_t k, double alpha,
                       const double *a, int64_t lda, const double *b, int64_t ldb,
                       double beta, double *c, int64_t ldc, double *bsum, int *summed)
    int bn_sgemm_bias_act(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const float *b, int64_t ldb, const float *bias, int32_t act,
                          float *c, int64_t ldc, float *z, int64_t ldz)
    int bn_dgemm_bias_act(int64_t m, int64_t n, int64_t k, const double *a, int64_t lda,
                          const double *b, int64_t ldb, const double *bias, int32_t act,
                          double *c, int64_t ldc, double *z, int64_t ldz)
    ctypedef struct bn_packed_b:
        pass
    int bn_sgemm_pack_b(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
                        const float *b, int64_t ldb, bn_packed_b **out)
    int bn_dgemm_pack_b(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
                        const double *b, int64_t ldb, bn_packed_b **out)
    int bn_sgemm_pb(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb,
                    const bn_packed_b *pb, float beta, float *c, int64_t ldc)
    int bn_dgemm_pb(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, double alpha,
                    const double *a, int64_t lda, const double *b, int64_t ldb,
                    const bn_packed_b *pb, double beta, double *c, int64_t ldc)
    void bn_gemm_packed_b_free(bn_packed_b *p)
    void bn_set_num_threads(int n)
    int bn_get_num_threads()

cdef extern from "cpu.h" nogil:
    const char *bn_cpu_kernel_name()
    int bn_cpu_force_kernel(const char *name)


def first_nonfinite(const floating[:, ::1] x):
    """the flat index of x's first NaN or infinity, or -1 (bn_first_nonfinite, net.h)"""
    cdef int64_t count = x.shape[0] * x.shape[1], at = -1
    if count == 0:
        return -1
    with nogil:
        if floating is float:
            at = bn_first_nonfinite_f32(&x[0, 0], count)
        else:
            at = bn_first_nonfinite_f64(&x[0, 0], count)
    return at


def gemm(bint trans_a, bint trans_b, double alpha, const floating[:, :] a,
         const floating[:, :] b, double beta, floating[:, :] c, bint reference=False,
         bint packed_b=False):
    """c = alpha * op(a) @ op(b) + beta * c in place (bn_?gemm, or the naive bn_?gemm_ref);
    packed_b: op(b) packed first by bn_?gemm_pack_b for products of this many rows, then
    bn_?gemm_pb. Returns whether packed panels were made (False when not asked for, or
    when such products read B in place)"""
    cdef int status = BN_OK
    cdef bn_packed_b *pb = NULL
    cdef int64_t m = c.shape[0], n = c.shape[1]
    cdef int64_t k = a.shape[0] if trans_a else a.shape[1]
    cdef int64_t lda = a.strides[0] // sizeof(floating), ldb = b.strides[0] // sizeof(floating)
    cdef int64_t ldc = c.strides[0] // sizeof(floating)
    cdef bn_trans ta = BN_TRANS if trans_a else BN_NO_TRANS
    cdef bn_trans tb = BN_TRANS if trans_b else BN_NO_TRANS
    with nogil:
        if packed_b and not reference:
            if floating is float:
                status = bn_sgemm_pack_b(ta, tb, m, n, k, &b[0, 0], ldb, &pb)
                if status == BN_OK:
                    status = bn_sgemm_pb(ta, tb, m, n, k, <float>alpha, &a[0, 0], lda,
                                         &b[0, 0], ldb, pb, <float>beta, &c[0, 0], ldc)
            else:
                status = bn_dgemm_pack_b(ta, tb, m, n, k, &b[0, 0], ldb, &pb)
                if status == BN_OK:
                    status = bn_dgemm_pb(ta, tb, m, n, k, alpha, &a[0, 0], lda, &b[0, 0],
                                         ldb, pb, beta, &c[0, 0], ldc)
        elif floating is float:
            if reference:
                bn_sgemm_ref(ta, tb, m, n, k, <float>alpha, &a[0, 0], lda, &b[0, 0], ldb,
                             <float>beta, &c[0, 0], ldc)
            else:
                status = bn_sgemm(ta, tb, m, n, k, <float>alpha, &a[0, 0], lda, &b[0, 0], ldb,
                                  <float>beta, &c[0, 0], ldc)
        else:
            if reference:
                bn_dgemm_ref(ta, tb, m, n, k, alpha, &a[0, 0], lda, &b[0, 0], ldb, beta,
                             &c[0, 0], ldc)
            else:
                status = bn_dgemm(ta, tb, m, n, k, alpha, &a[0, 0], lda, &b[0, 0], ldb, beta,
                                  &c[0, 0], ldc)
    made = pb != NULL
    bn_gemm_packed_b_free(pb)
    _check(status)
    return made


def gemm_sum_b(bint trans_a, double alpha, const floating[:, :] a, const floating[:, :] b,
               double beta, floating[:, :] c, floating[::1] bsum):
    """c = alpha * op(a) @ b + beta * c in place and bsum = b's column sums, made as the
    product packs b (bn_?gemm_sum_b); returns whether they were (False: bsum untouched)"""
    cdef int status, summed = 0
    cdef int64_t m = c.shape[0], n = c.shape[1], k = b.shape[0]
    cdef int64_t lda = a.strides[0] // sizeof(floating), ldb = b.strides[0] // sizeof(floating)
    cdef int64_t ldc = c.strides[0] // sizeof(floating)
    cdef bn_trans ta = BN_TRANS if trans_a else BN_NO_TRANS
    with nogil:
        if floating is float:
            status = bn_sgemm_sum_b(ta, m, n, k, <float>alpha, &a[0, 0], lda, &b[0, 0], ldb,
                                    <float>beta, &c[0, 0], ldc, &bsum[0], &summed)
        else:
            status = bn_dgemm_sum_b(ta, m, n, k, alpha, &a[0, 0], lda, &b[0, 0], ldb, beta,
                                    &c[0, 0], ldc, &bsum[0], &summed)
    _check(status)
    return bool(summed)


def gemm_bias_act(const floating[:, :] a, const floating[:, :] b, const floating[::1] bias,
                  str activation, floating[:, :] c, floating[:, :] z=None):
    """c = act(a @ b + bias) in one pass (bn_?gemm_bias_act); z, if given, gets a @ b + bias"""
    cdef int32_t act = ACTIVATIONS[activation]
    cdef int status
    cdef int64_t m = c.shape[0], n = c.shape[1], k = a.shape[1]
    cdef int64_t lda = a.strides[0] // sizeof(floating), ldb = b.strides[0] // sizeof(floating)
    cdef int64_t ldc = c.strides[0] // sizeof(floating)
    cdef int64_t ldz = z.strides[0] // sizeof(floating) if z is not None else 0
    cdef floating *zp = &z[0, 0] if z is not None else NULL
    with nogil:
        if floating is float:
            status = bn_sgemm_bias_act(m, n, k, &a[0, 0], lda, &b[0, 0], ldb, &bias[0], act,
                                       &c[0, 0], ldc, zp, ldz)
        else:
            status = bn_dgemm_bias_act(m, n, k, &a[0, 0], lda, &b[0, 0], ldb, &bias[0], act,
                                       &c[0, 0], ldc, zp, ldz)
    _check(status)


# ---- Ctrl-C (interrupt.h); barenet.training.catch_interrupts is the one user ----
def interrupt_install():
    """the flag-setting SIGINT handler, listened to in this thread; False if SIGINT is
    ignored (then left alone). A SIGINT that reached Python's handler just before raises
    KeyboardInterrupt here, with the previous handler back."""
    cdef int installed = bn_interrupt_install()
    try:
        PyErr_CheckSignals()  # Python's signals from before the swap: now, not later
    except BaseException:
        if installed:
            bn_interrupt_restore()
        raise
    return bool(installed)


def interrupt_restore():
    """the previous SIGINT handler back; True if a SIGINT arrived and was not taken"""
    return bool(bn_interrupt_restore())


def interrupt_pending():
    """True if a SIGINT arrived since interrupt_install() and was not taken"""
    return bool(bn_interrupt_pending())


def interrupt_take():
    """interrupt_pending(), clearing the flag"""
    return bool(bn_interrupt_take())


def set_num_threads(int n):
    """barenet's thread count; n <= 0 returns to the default (BARENET_NUM_THREADS, else
    OpenMP's); never more than omp_get_max_threads(), so threadpoolctl limits it too"""
    bn_set_num_threads(n)


def get_num_threads():
    """the number of threads a large GEMM would use now"""
    return bn_get_num_threads()


def cpu_kernel():
    """name of the GEMM micro-kernels in use: "avx2_fma" or "generic" """
    return bn_cpu_kernel_name().decode()


def force_kernel(name=None):
    """force "generic" or "avx2" kernels; None returns to the automatic choice"""
    cdef bytes raw = (name or "").encode()
    if bn_cpu_force_kernel(raw) != 0:
        raise ValueError(f"kernel {name!r} is unknown or not supported by this CPU")


# ---- RNG bindings ----
# The counter-based generator of csrc/rng.h, for tests against its NumPy twin barenet._rng.
# Seeds, streams and indices are uint64; outputs come first and set the count.

cdef extern from "rng.h" nogil:
    uint64_t bn_rng_stream(uint64_t kind, uint64_t a, uint64_t b, uint64_t c)
    void bn_rng_u64_array(uint64_t *out, uint64_t seed, uint64_t stream,
                          const uint64_t *index, int64_t count)
    void bn_rng_uniform_array(double *out, uint64_t seed, uint64_t stream,
                              const uint64_t *index, int64_t count)
    void bn_rng_permutation(int64_t *perm, uint64_t *scratch, uint64_t seed, uint64_t stream,
                            int64_t n)
    void bn_dropout_mask_f64(double *out, uint64_t seed, uint64_t stream, int64_t count,
                             double rate)
    void bn_dropout_mask_f32(float *out, uint64_t seed, uint64_t stream, int64_t count,
                             double rate)


def rng_stream(uint64_t kind, uint64_t a=0, uint64_t b=0, uint64_t c=0):
    """bn_rng_stream: the stream id of kind (1 shuffle, 2 dropout) and counters a, b, c"""
    return bn_rng_stream(kind, a, b, c)


def rng_u64(uint64_t[::1] out, uint64_t seed, uint64_t stream, const uint64_t[::1] index):
    """out[i] = bn_rng_u64(seed, stream, index[i]); index as long as out"""
    with nogil:
        bn_rng_u64_array(&out[0], seed, stream, &index[0], out.shape[0])


def rng_uniform(double[::1] out, uint64_t seed, uint64_t stream, const uint64_t[::1] index):
    """out[i] = bn_rng_uniform(seed, stream, index[i]); index as long as out"""
    with nogil:
        bn_rng_uniform_array(&out[0], seed, stream, &index[0], out.shape[0])


def rng_permutation(int64_t[::1] perm, uint64_t[::1] scratch, uint64_t seed, uint64_t stream):
    """perm = bn_rng_permutation of 0..len(perm)-1; scratch holds at least 2 len(perm)"""
    with nogil:
        bn_rng_permutation(&perm[0], &scratch[0], seed, stream, perm.shape[0])


def dropout_mask(floating[::1] out, uint64_t seed, uint64_t stream, double rate):
    """out = bn_dropout_mask_f32/f64 (kept: 1 / (1 - rate), dropped: 0)"""
    with nogil:
        if floating is float:
            bn_dropout_mask_f32(&out[0], seed, stream, out.shape[0], rate)
        else:
            bn_dropout_mask_f64(&out[0], seed, stream, out.shape[0], rate)


# ---- optimizer bindings ----
# One optimizer step (csrc/optimizers.h) for barenet.optimizers' update_compiled; the
# bn_optimizer struct is declared at the top of this file.

cdef extern from "optimizers.h" nogil:
    int bn_optimizer_step_f64(bn_optimizer *opt, double *params, const double *grads,
                              double *state1, double *state2, int64_t count)
    int bn_optimizer_step_f32(bn_optimizer *opt, float *params, const float *grads,
                              float *state1, float *state2, int64_t count)
    double bn_clip_grads_f64(double *grads, int64_t count, double clipvalue, double clipnorm)
    double bn_clip_grads_f32(float *grads, int64_t count, double clipvalue, double clipnorm)


def clip_gradients(floating[::1] grads, double clipvalue, double clipnorm):
    """bn_clip_grads in place; returns the norm before scaling (0 without clipnorm)"""
    cdef double norm
    if grads.shape[0] == 0:
        return 0.0
    with nogil:
        if floating is float:
            norm = bn_clip_grads_f32(&grads[0], grads.shape[0], clipvalue, clipnorm)
        else:
            norm = bn_clip_grads_f64(&grads[0], grads.shape[0], clipvalue, clipnorm)
    return norm


def optimizer_step(dict config, floating[::1] params, const floating[::1] grads,
                   floating[::1] state1, floating[::1] state2):
    """one update of params in place from grads, config as barenet.optimizers' c_config
    gives it; empty state arrays stand for NULL (unused). grads and the used states are as
    long as params. Returns the new step count."""
    cdef bn_optimizer opt = _optimizer(config)
    cdef int status
    if opt.decay_weights_only:
        raise ValueError("AdamW(decay='weights') decays the network's weights, which a step "
                         "over a flat buffer does not know: train the network with it")
    if opt.clipvalue > 0 or opt.clipnorm > 0:  # on a copy: grads stay the caller's
        clipped = np.array(grads, copy=True)
        clip_gradients(clipped, opt.clipvalue, opt.clipnorm)
        grads = clipped
    cdef floating *s1 = &state1[0] if state1.shape[0] else NULL
    cdef floating *s2 = &state2[0] if state2.shape[0] else NULL
    with nogil:
        if floating is float:
            status = bn_optimizer_step_f32(&opt, &params[0], &grads[0], s1, s2,
                                           params.shape[0])
        else:
            status = bn_optimizer_step_f64(&opt, &params[0], &grads[0], s1, s2,
                                           params.shape[0])
    if status != BN_OK:
        raise ValueError(f"barenet: optimizer kind {config['kind']!r} is unknown or lacks a "
                         "state buffer")
    return opt.step


# ---- sparse kernels ----
# CSR times dense (csrc/sparse.h) for the first layer fed scipy.sparse input. Thin wrappers
# for the training code, tests and benchmarks; barenet/_sparse.py validates the structure
# (int64 indptr/indices, indices and rows in range) and the shapes first. rows, bias and z
# may be None (C's NULL: rows 0..NB-1, no bias, z not kept). NB is a's (or dz's) rows.

cdef extern from "sparse.h" nogil:
    int bn_csr_dense_bias_act_f32(int64_t nb, int64_t n_in, int64_t n_out,
                                  const int64_t *indptr, const int64_t *indices,
                                  const float *data, const int64_t *rows, const float *w,
                                  const float *bias, int32_t act, float *a, float *z)
    int bn_csr_dense_bias_act_f64(int64_t nb, int64_t n_in, int64_t n_out,
                                  const int64_t *indptr, const int64_t *indices,
                                  const double *data, const int64_t *rows, const double *w,
                                  const double *bias, int32_t act, double *a, double *z)
    int bn_csr_t_dense_f32(int64_t nb, int64_t n_in, int64_t n_out, const int64_t *indptr,
                           const int64_t *indices, const float *data, const int64_t *rows,
                           const float *dz, float *dw)
    int bn_csr_t_dense_f64(int64_t nb, int64_t n_in, int64_t n_out, const int64_t *indptr,
                           const int64_t *indices, const double *data, const int64_t *rows,
                           const double *dz, double *dw)


def csr_dense_bias_act(const int64_t[::1] indptr, const int64_t[::1] indices,
                       const floating[::1] data, const int64_t[::1] rows,
                       const floating[:, ::1] w, const floating[::1] bias, str activation,
                       floating[:, ::1] a, floating[:, ::1] z):
    """z = X[rows] @ w + bias, a = act(z) (bn_csr_dense_bias_act_f32/f64); a and z (NB, OUT)"""
    cdef int32_t act = ACTIVATIONS[activation]
    cdef int status
    cdef int64_t nb = a.shape[0], n_in = w.shape[0], n_out = a.shape[1]
    cdef const int64_t *r = &rows[0] if rows is not None else NULL
    cdef const floating *b = &bias[0] if bias is not None else NULL
    cdef floating *zp = &z[0, 0] if z is not None else NULL
    with nogil:
        if floating is float:
            status = bn_csr_dense_bias_act_f32(nb, n_in, n_out, &indptr[0], &indices[0],
                                               &data[0], r, &w[0, 0], b, act, &a[0, 0], zp)
        else:
            status = bn_csr_dense_bias_act_f64(nb, n_in, n_out, &indptr[0], &indices[0],
                                               &data[0], r, &w[0, 0], b, act, &a[0, 0], zp)
    _check(status)


def csr_t_dense(const int64_t[::1] indptr, const int64_t[::1] indices,
                const floating[::1] data, const int64_t[::1] rows,
                const floating[:, ::1] dz, floating[:, ::1] dw):
    """dw = X[rows]^T @ dz, all of dw overwritten (bn_csr_t_dense_f32/f64); dz (NB, OUT)"""
    cdef int status
    cdef int64_t nb = dz.shape[0], n_in = dw.shape[0], n_out = dw.shape[1]
    cdef const int64_t *r = &rows[0] if rows is not None else NULL
    with nogil:
        if floating is float:
            status = bn_csr_t_dense_f32(nb, n_in, n_out, &indptr[0], &indices[0], &data[0], r,
                                        &dz[0, 0], &dw[0, 0])
        else:
            status = bn_csr_t_dense_f64(nb, n_in, n_out, &indptr[0], &indices[0], &data[0], r,
                                        &dz[0, 0], &dw[0, 0])
    _check(status)
