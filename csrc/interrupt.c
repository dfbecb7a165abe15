/* interrupt.c -- the SIGINT flag of interrupt.h: a handler that only sets a sig_atomic_t,
 * so it is async-signal-safe, the saving and restoring of the handler it replaces (with
 * sigaction where there is one, so the previous handler's flags come back too), and the
 * thread that listens to the flag. */
#if !defined(_WIN32) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700 /* sigaction and SA_ONSTACK also under a strict -std=c11 */
#endif
#include <signal.h>
#include <string.h>

#include "interrupt.h"

#if defined(_MSC_VER)
#define BN_THREAD_LOCAL __declspec(thread)
#else
#define BN_THREAD_LOCAL _Thread_local
#endif

static volatile sig_atomic_t pending = 0;
static BN_THREAD_LOCAL int listening = 0; /* set in the thread that installed */
static int installed = 0;
#if defined(_WIN32)
static void (*previous)(int) = SIG_DFL;
#else
static struct sigaction previous;
#endif

static void on_sigint(int sig)
{
    (void)sig;
    pending = 1;
#if defined(_WIN32)
    signal(SIGINT, on_sigint); /* the CRT resets the handler before calling it */
#endif
}

int bn_interrupt_install(void)
{
    if (installed) return 0;
#if defined(_WIN32)
    void (*old)(int) = signal(SIGINT, on_sigint);
    if (old == SIG_ERR) return 0;
    if (old == SIG_IGN) { /* the program ignores Ctrl-C: so do we */
        signal(SIGINT, SIG_IGN);
        return 0;
    }
    previous = old;
#else
    struct sigaction now, mine;
    if (sigaction(SIGINT, NULL, &now) != 0) return 0;
    if (!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_IGN) return 0;
    memset(&mine, 0, sizeof mine);
    mine.sa_handler = on_sigint;
    sigemptyset(&mine.sa_mask);
    mine.sa_flags = SA_ONSTACK; /* as Python's own handler; no SA_RESTART, as Python */
    if (sigaction(SIGINT, &mine, &previous) != 0) return 0;
#endif
    installed = 1;
    listening = 1;
    return 1;
}

int bn_interrupt_restore(void)
{
    if (installed) {
#if defined(_WIN32)
        signal(SIGINT, previous);
#else
        sigaction(SIGINT, &previous, NULL);
#endif
    }
    installed = 0;
    int taken = bn_interrupt_take(); /* after the handler is gone: nothing can set it now */
    listening = 0;
    return taken;
}

int bn_interrupt_pending(void)
{
    /* the plain flag first: it is almost always 0, and listening is thread-local (a call
     * to the TLS resolver in a shared library), which the loops poll every batch */
    return pending && listening;
}

int bn_interrupt_take(void)
{
    if (!pending || !listening) return 0;
    pending = 0; /* a second SIGINT between the test and here is the same request */
    return 1;
}
