/*
 * dirtier: the testbed guest's workload and health signal.
 *
 * Parameters come from the kernel command line (/proc/cmdline) or from argv, as
 * "dirty_mb=N dirty_rate=R" or as two plain numbers "N R"; argv wins.
 *
 *   dirty_mb=0   print "HEARTBEAT hb=N t=S" once a second, N counting up from 1.
 *   dirty_mb=N   rewrite N MiB with one 8-byte store per 4 KiB page at R MiB/s of pages
 *                (R=0: as fast as possible). The stored value encodes the page index and the
 *                pass number, so a page that holds stale or misplaced data is detected. Once a
 *                second every page is checked and one line is printed:
 *                "DIRTIER t= hb= dirtied_mib= rate_mib_s= pass= verify=OK|FAIL(n bad pages, first i)"
 *
 * hb increases by one per line in both modes, so progress is visible to a health check.
 * Built with: gcc -static -O2 -o dirtier dirtier.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_BYTES 4096UL
#define PAGES_PER_MIB 256UL
#define INDEX_BITS 24

static void say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, (size_t)n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (int)w;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Value of "key=" in a space-separated list, or dflt when absent or malformed. */
static long lookup(const char *text, const char *key, long dflt)
{
    size_t klen = strlen(key);
    const char *p = text;
    while ((p = strstr(p, key)) != NULL) {
        int at_start = (p == text) || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n';
        if (at_start && p[klen] == '=') {
            char *end;
            long v = strtol(p + klen + 1, &end, 10);
            if (end != p + klen + 1 && v >= 0)
                return v;
            return dflt;
        }
        p += klen;
    }
    return dflt;
}

static void read_cmdline(char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen("/proc/cmdline", "r");
    if (f == NULL)
        return;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void heartbeat(void)
{
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    double t0 = (double)next.tv_sec + (double)next.tv_nsec / 1e9;
    for (unsigned long hb = 1;; hb++) {
        next.tv_sec += 1;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
        }
        double t = now_s();
        /* After a long stall (e.g. a paused guest) do not print a burst of lines. */
        if (t - ((double)next.tv_sec + (double)next.tv_nsec / 1e9) > 1.0)
            clock_gettime(CLOCK_MONOTONIC, &next);
        say("HEARTBEAT hb=%lu t=%.1f\n", hb, t - t0);
    }
}

static inline uint64_t stamp(uint64_t pass, uint64_t page)
{
    return pass == 0 ? 0 : (pass << INDEX_BITS) | page;
}

static void dirty(unsigned long mib, unsigned long rate_mib_s)
{
    uint64_t npages = (uint64_t)mib * PAGES_PER_MIB;
    if (npages >= (1ULL << INDEX_BITS)) {
        say("DIRTIER-ERROR dirty_mb=%lu is too large\n", mib);
        exit(1);
    }
    volatile uint64_t *mem = mmap(NULL, npages * PAGE_BYTES, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (mem == MAP_FAILED) {
        say("DIRTIER-ERROR cannot map %lu MiB: %s\n", mib, strerror(errno));
        exit(1);
    }
    const size_t words_per_page = PAGE_BYTES / sizeof(uint64_t);
    const double pages_per_s = (double)rate_mib_s * PAGES_PER_MIB;
    uint64_t chunk = 4096;
    if (rate_mib_s > 0) {
        chunk = (uint64_t)(pages_per_s / 100.0);
        if (chunk < 1)
            chunk = 1;
        if (chunk > 4096)
            chunk = 4096;
    }
    say("DIRTIER-START dirty_mb=%lu dirty_rate=%lu pages=%llu\n", mib, rate_mib_s,
        (unsigned long long)npages);

    uint64_t pass = 1, pos = 0, total = 0, total_at_report = 0;
    unsigned long hb = 0;
    double t0 = now_s(), pace_origin = t0, last_report = t0, next_report = t0 + 1.0;
    for (;;) {
        double t = now_s();
        if (t >= next_report) {
            uint64_t bad = 0, first = 0;
            for (uint64_t i = 0; i < npages; i++) {
                uint64_t want = stamp(i < pos ? pass : pass - 1, i);
                if (mem[i * words_per_page] != want) {
                    if (bad == 0)
                        first = i;
                    bad++;
                }
            }
            double rate = (double)(total - total_at_report) / PAGES_PER_MIB / (t - last_report);
            hb++;
            if (bad == 0)
                say("DIRTIER t=%.1f hb=%lu dirtied_mib=%llu rate_mib_s=%.1f pass=%llu verify=OK\n",
                    t - t0, hb, (unsigned long long)(total / PAGES_PER_MIB), rate,
                    (unsigned long long)pass);
            else
                say("DIRTIER t=%.1f hb=%lu dirtied_mib=%llu rate_mib_s=%.1f pass=%llu "
                    "verify=FAIL(%llu bad pages, first %llu)\n",
                    t - t0, hb, (unsigned long long)(total / PAGES_PER_MIB), rate,
                    (unsigned long long)pass, (unsigned long long)bad, (unsigned long long)first);
            total_at_report = total;
            last_report = t;
            next_report += 1.0;
            if (next_report < t)
                next_report = t + 1.0;
            continue;
        }
        if (rate_mib_s > 0) {
            double due = pace_origin + (double)total / pages_per_s;
            if (due < t - 1.0) { /* fell behind (a stall): do not burst to catch up */
                pace_origin = t - (double)total / pages_per_s;
                due = t;
            }
            if (due > t) {
                sleep_s((due < next_report ? due : next_report) - t);
                continue;
            }
        }
        for (uint64_t k = 0; k < chunk; k++) {
            mem[pos * words_per_page] = stamp(pass, pos);
            if (++pos == npages) {
                pos = 0;
                pass++;
            }
        }
        total += chunk;
    }
}

int main(int argc, char **argv)
{
    char cmdline[4096];
    read_cmdline(cmdline, sizeof cmdline);
    long mib = lookup(cmdline, "dirty_mb", 0);
    long rate = lookup(cmdline, "dirty_rate", 0);
    if (argc >= 2) {
        char args[1024] = "";
        for (int i = 1; i < argc; i++) {
            strncat(args, argv[i], sizeof args - strlen(args) - 2);
            strncat(args, " ", sizeof args - strlen(args) - 1);
        }
        if (strchr(argv[1], '=') != NULL) {
            mib = lookup(args, "dirty_mb", mib);
            rate = lookup(args, "dirty_rate", rate);
        } else {
            mib = strtol(argv[1], NULL, 10);
            rate = argc >= 3 ? strtol(argv[2], NULL, 10) : 0;
        }
    }
    if (mib < 0 || rate < 0) {
        say("DIRTIER-ERROR dirty_mb and dirty_rate must be >= 0\n");
        return 2;
    }
    if (mib == 0)
        heartbeat();
    else
        dirty((unsigned long)mib, (unsigned long)rate);
    return 0;
}
