/* interrupt.c -- the SIGINT flag of interrupt.h: a handler that only sets a
 * sig_atomic_t, so it is async-signal-safe, and the saving and restoring of the handler
 * it replaces. */
#include <signal.h>

#include "interrupt.h"

static volatile sig_atomic_t pending = 0;
static void (*previous)(int) = SIG_DFL;
static int installed = 0;

static void on_sigint(int sig)
{
    (void)sig;
    pending = 1;
}

int bn_interrupt_install(void)
{
    pending = 0;
    void (*old)(int) = signal(SIGINT, on_sigint);
    if (old == SIG_ERR) return 0;
    if (old == SIG_IGN) { /* the program ignores Ctrl-C: so do we */
        signal(SIGINT, SIG_IGN);
        return 0;
    }
    previous = old;
    installed = 1;
    return 1;
}

void bn_interrupt_restore(void)
{
    if (installed) signal(SIGINT, previous);
    installed = 0;
}

int bn_interrupt_pending(void)
{
    return pending;
}
