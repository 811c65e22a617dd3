/* progress.c — progress display for long work. On a terminal: one line redrawn in place
 * with a bar, count, rate and ETA (at most 10 redraws a second). Elsewhere (a log file, a
 * pipe, CI): a plain line every `interval` seconds and one at the end, so logs stay short
 * and readable. It writes only to the stream it was given. */
#define _POSIX_C_SOURCE 200809L /* fileno, fsync, clock_gettime: -std=c11 hides POSIX */
#include "core/core.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct spk_progress {
    spk__obj obj;
    FILE *fp;
    char title[64];
    uint64_t total, done;
    int tty;
    double t0, last_print, interval;
    int printed_bar;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(char *buf, size_t n, double s) {
    if (s < 0 || s != s) { snprintf(buf, n, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

spk_status spk_progress_begin(spk_progress **out, void *fp, const char *title, uint64_t total, double interval_s) {
    if (!out || !fp) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_progress_begin: %s is NULL", !out ? "out" : "stream");
    *out = NULL;
    spk_progress *p = spk_calloc(1, sizeof *p);
    if (!p) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_progress_begin: no memory");
    spk__obj_init(&p->obj);
    p->fp = (FILE *)fp;
    snprintf(p->title, sizeof p->title, "%s", title ? title : "");
    p->total = total;
    p->tty = isatty(fileno(p->fp));
    p->t0 = now_s();
    p->last_print = p->t0;
    p->interval = interval_s > 0 ? interval_s : 2.0;
    *out = p;
    return SPK_OK;
}

int spk_progress_is_tty(const spk_progress *p) { return p ? p->tty : 0; }

static void render(spk_progress *p, const char *note, int final) {
    double el = now_s() - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0;
    char eta[32] = "", elapsed[32];
    fmt_duration(elapsed, sizeof elapsed, el);
    if (p->total && rate > 0 && !final) fmt_duration(eta, sizeof eta, (double)(p->total - (p->done < p->total ? p->done : p->total)) / rate);
    if (p->tty) {
        char bar[31];
        int filled = p->total ? (int)(30.0 * (double)(p->done > p->total ? p->total : p->done) / (double)p->total) : 0;
        for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
        bar[30] = '\0';
        if (p->total)
            fprintf(p->fp, "\r%s [%s] %llu/%llu %.1f/s %s%s%s%s\033[K", p->title, bar, (unsigned long long)p->done,
                    (unsigned long long)p->total, rate, final ? elapsed : "eta ", final ? "" : eta,
                    note ? "  " : "", note ? note : "");
        else
            fprintf(p->fp, "\r%s %llu %.1f/s %s%s%s\033[K", p->title, (unsigned long long)p->done, rate, elapsed,
                    note ? "  " : "", note ? note : "");
        if (final) fputc('\n', p->fp);
    } else {
        if (p->total)
            fprintf(p->fp, "%s: %llu/%llu (%.0f%%) %.1f/s elapsed %s%s%s%s%s\n", p->title, (unsigned long long)p->done,
                    (unsigned long long)p->total, 100.0 * (double)p->done / (double)p->total, rate, elapsed,
                    eta[0] ? " eta " : "", eta, note ? "  " : "", note ? note : "");
        else
            fprintf(p->fp, "%s: %llu %.1f/s elapsed %s%s%s\n", p->title, (unsigned long long)p->done, rate, elapsed,
                    note ? "  " : "", note ? note : "");
    }
    fflush(p->fp);
}

void spk_progress_update(spk_progress *p, uint64_t done, const char *note) {
    if (!p) return;
    p->done = done;
    double t = now_s();
    double period = p->tty ? 0.1 : p->interval;
    if (t - p->last_print < period) return;
    p->last_print = t;
    render(p, note, 0);
}

void spk_progress_end(spk_progress *p) {
    if (!p) return;
    render(p, "done", 1);
    spk_free(p);
}
