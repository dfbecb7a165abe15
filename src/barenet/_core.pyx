# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin bindings to barenet's C core (csrc/). Typed memoryviews in, one C call with the
GIL released, a status code turned into an exception. Python has validated every shape,
dtype and value before anything here runs (barenet/_compiled_backend.py)."""

from libc.stdint cimport int32_t, int64_t

cdef extern from "gemm.h" nogil:
    int BN_OK
    int BN_ENOMEM

cdef extern from "mlp.h" nogil:
    ctypedef struct bn_mlp:
        int64_t n_layers
        const int64_t *sizes
        const int64_t *w_offsets
        const int64_t *b_offsets
        const int32_t *activations
        int32_t loss
        int64_t n_params
    int64_t bn_mlp_workspace_size(const bn_mlp *net, int64_t n)
    int64_t bn_mlp_output_offset(const bn_mlp *net, int64_t n)
    int bn_mlp_forward_f64(const bn_mlp *net, double *work, const double *params,
                           const double *x, int64_t n)
    int bn_mlp_forward_f32(const bn_mlp *net, float *work, const float *params,
                           const float *x, int64_t n)
    double bn_mlp_loss_f64(const bn_mlp *net, const double *work, const double *y, int64_t n)
    double bn_mlp_loss_f32(const bn_mlp *net, const float *work, const float *y, int64_t n)
    int bn_mlp_backward_f64(const bn_mlp *net, double *dparams, double *work,
                            const double *params, const double *x, const double *y, int64_t n)
    int bn_mlp_backward_f32(const bn_mlp *net, float *dparams, float *work,
                            const float *params, const float *x, const float *y, int64_t n)
    int bn_mlp_train_full_batch_f64(const bn_mlp *net, double *losses, double *params,
                                    double *dparams, double *work, const double *x,
                                    const double *y, int64_t n, int64_t epochs, double lr)
    int bn_mlp_train_full_batch_f32(const bn_mlp *net, double *losses, float *params,
                                    float *dparams, float *work, const float *x,
                                    const float *y, int64_t n, int64_t epochs, float lr)

cdef extern from *:
    """
    #ifdef _OPENMP
    #define BN_BUILT_WITH_OPENMP 1
    #else
    #define BN_BUILT_WITH_OPENMP 0
    #endif
    """
    int BN_BUILT_WITH_OPENMP

ctypedef fused floating:
    float
    double


cdef int _check(int status) except -1:
    if status == BN_ENOMEM:
        raise MemoryError("barenet: the C core could not allocate its buffers")
    if status != BN_OK:
        raise RuntimeError(f"barenet: the C core returned status {status}")
    return 0


def build_info():
    """facts about this build of the C core, for `barenet info`"""
    return {"openmp": bool(BN_BUILT_WITH_OPENMP)}


cdef class MLP:
    """A network description for C: sizes, parameter offsets and activation ids, kept alive
    here because bn_mlp only points at them."""
    cdef bn_mlp net
    cdef int64_t[::1] _sizes, _w_offsets, _b_offsets
    cdef int32_t[::1] _activations

    def __init__(self, int64_t[::1] sizes, int64_t[::1] w_offsets, int64_t[::1] b_offsets,
                 int32_t[::1] activations, int32_t loss, int64_t n_params):
        self._sizes, self._w_offsets, self._b_offsets = sizes, w_offsets, b_offsets
        self._activations = activations
        self.net.n_layers = activations.shape[0]
        self.net.sizes = &sizes[0]
        self.net.w_offsets = &w_offsets[0]
        self.net.b_offsets = &b_offsets[0]
        self.net.activations = &activations[0]
        self.net.loss = loss
        self.net.n_params = n_params

    def workspace_size(self, int64_t n):
        return bn_mlp_workspace_size(&self.net, n)

    def output_offset(self, int64_t n):
        return bn_mlp_output_offset(&self.net, n)

    def forward(self, floating[::1] work, const floating[::1] params,
                const floating[:, ::1] x):
        cdef int status
        cdef int64_t n = x.shape[0]
        with nogil:
            if floating is float:
                status = bn_mlp_forward_f32(&self.net, &work[0], &params[0], &x[0, 0], n)
            else:
                status = bn_mlp_forward_f64(&self.net, &work[0], &params[0], &x[0, 0], n)
        _check(status)

    def loss(self, const floating[::1] work, const floating[:, ::1] y):
        cdef double value
        cdef int64_t n = y.shape[0]
        with nogil:
            if floating is float:
                value = bn_mlp_loss_f32(&self.net, &work[0], &y[0, 0], n)
            else:
                value = bn_mlp_loss_f64(&self.net, &work[0], &y[0, 0], n)
        return value

    def backward(self, floating[::1] dparams, floating[::1] work, const floating[::1] params,
                 const floating[:, ::1] x, const floating[:, ::1] y):
        cdef int status
        cdef int64_t n = x.shape[0]
        with nogil:
            if floating is float:
                status = bn_mlp_backward_f32(&self.net, &dparams[0], &work[0], &params[0],
                                             &x[0, 0], &y[0, 0], n)
            else:
                status = bn_mlp_backward_f64(&self.net, &dparams[0], &work[0], &params[0],
                                             &x[0, 0], &y[0, 0], n)
        _check(status)

    def train_full_batch(self, double[::1] losses, floating[::1] params,
                         floating[::1] dparams, floating[::1] work,
                         const floating[:, ::1] x, const floating[:, ::1] y,
                         int64_t epochs, double lr):
        cdef int status
        cdef int64_t n = x.shape[0]
        with nogil:
            if floating is float:
                status = bn_mlp_train_full_batch_f32(&self.net, &losses[0], &params[0],
                                                     &dparams[0], &work[0], &x[0, 0],
                                                     &y[0, 0], n, epochs, <float>lr)
            else:
                status = bn_mlp_train_full_batch_f64(&self.net, &losses[0], &params[0],
                                                     &dparams[0], &work[0], &x[0, 0],
                                                     &y[0, 0], n, epochs, lr)
        _check(status)
