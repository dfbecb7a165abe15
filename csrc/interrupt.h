/* interrupt.h -- Ctrl-C during a long C call. While a training call runs with the GIL
 * released, Python's own SIGINT handler only marks the signal for later, so the C loop
 * would run to its end. bn_interrupt_install swaps in a handler that sets a flag which the
 * loops poll between batches (bn_interrupt_pending); bn_interrupt_restore puts Python's
 * handler back, and the binding then raises KeyboardInterrupt itself. Main thread only. */
#ifndef BARENET_INTERRUPT_H
#define BARENET_INTERRUPT_H

/* 1 if installed (0 when SIGINT was ignored, which is left alone) */
int bn_interrupt_install(void);
void bn_interrupt_restore(void);
int bn_interrupt_pending(void);

#endif
