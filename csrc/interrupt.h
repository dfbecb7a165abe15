/* interrupt.h -- Ctrl-C during training. While a C call runs with the GIL released,
 * Python's own SIGINT handler only marks the signal for later, so a C loop would run to its
 * end. For the whole of a training call (all its C calls and the Python between them:
 * validation, early stopping, schedules), barenet.training installs this handler instead;
 * it only sets a flag. The C loops poll the flag between batches and after every epoch
 * (bn_interrupt_pending), Python polls it between its C calls, and bn_interrupt_restore
 * puts the previous handler back and hands over a signal that nobody has acted on yet, so
 * a SIGINT that arrives after the last poll is never lost, and a flag is never cleared
 * unread. Python (main thread only) then raises KeyboardInterrupt at a consistent state. */
#ifndef BARENET_INTERRUPT_H
#define BARENET_INTERRUPT_H

/* replace the SIGINT handler by the flag-setting one and listen to the flag in the calling
 * thread; 1 if installed, 0 if SIGINT is ignored (left alone: so are we) or the handler
 * could not be changed. Not nested: call bn_interrupt_restore before installing again. */
int bn_interrupt_install(void);
/* put the previous handler back and stop listening; returns 1 if a SIGINT arrived since
 * install and was not taken, and clears the flag (the caller must act on it) */
int bn_interrupt_restore(void);
/* 1 if a SIGINT arrived since install and was not taken, in the thread that installed the
 * handler; 0 in any other thread (only the main thread gets KeyboardInterrupt). Does not
 * clear the flag. Cheap enough to call between batches. */
int bn_interrupt_pending(void);
/* bn_interrupt_pending, and clear the flag if it was set */
int bn_interrupt_take(void);

#endif
