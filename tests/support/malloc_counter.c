/* Test support, preloaded into berth-edge (LD_PRELOAD): counts malloc, calloc and realloc
 * (operator new goes through malloc) and writes "mallocs#K: N" to stderr on the K-th SIGUSR2, so a
 * test can check that the steady state allocates nothing per request. Not for sanitizer builds,
 * which interpose malloc themselves. */
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);

static atomic_ulong allocations;
static unsigned long reports;

void *malloc(size_t size)
{
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size)
{
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_calloc(count, size);
}

void *realloc(void *ptr, size_t size)
{
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_realloc(ptr, size);
}

static int append_number(char *line, int len, unsigned long v)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        line[len++] = digits[--n];
    return len;
}

/* Async-signal-safe: digits by hand, one write(). */
static void report(int signo)
{
    (void)signo;
    char line[64] = "mallocs#";
    int len = 8;
    len = append_number(line, len, ++reports);
    line[len++] = ':';
    line[len++] = ' ';
    len = append_number(line, len, atomic_load(&allocations));
    line[len++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)len);
}

__attribute__((constructor)) static void install(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = report;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
}
