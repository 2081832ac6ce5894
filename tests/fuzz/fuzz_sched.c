/*
 * tests/fuzz/fuzz_sched.c — libFuzzer target for schedule expressions
 * (broker/lib/sched.c).
 *
 * Input: the expression's bytes (cut at the first NUL).  Parses it; when it
 * parses, asks for the next firing after a few times and aborts unless
 * each answer is after its start, on a whole minute for a cron, allowed by
 * the cron's minute, hour and month fields, and stable (asking again from
 * one ms before the answer gives the answer).  Sanitizers catch memory and
 * undefined-behaviour errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sched.h"

static void check(const sched_expr *x, int64_t anchor, int64_t after)
{
    int64_t t = sched_next(x, anchor, after);
    if (t == -1) {
        return;
    }
    if (t <= after || sched_next(x, anchor, t - 1) != t) {
        abort();
    }
    if (x->kind == SCHED_CRON) {
        if (t % 60000 != 0) {
            abort();
        }
        int64_t min = t / 60000;
        int y, m, d;
        sched_civil_from_days(min / 1440, &y, &m, &d);
        int mi = (int)(min % 60), h = (int)(min / 60 % 24);
        if (!((x->minutes >> mi) & 1) || !((x->hours >> h) & 1) || !((x->months >> m) & 1)) {
            abort();
        }
        if (y < SCHED_YEAR_MIN || y > SCHED_YEAR_MAX || d < 1 || d > 31) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char expr[SCHED_EXPR_MAX + 8];
    size_t n = size < sizeof(expr) - 1 ? size : sizeof(expr) - 1;
    memcpy(expr, data, n);
    expr[n] = '\0';
    sched_expr x;
    char err[160];
    if (!sched_parse(expr, &x, err, sizeof(err))) {
        if (err[0] == '\0') {
            abort(); /* a refusal always says why */
        }
        return 0;
    }
    int64_t base = 1796630430000; /* 2026-12-07T08:00:30Z */
    check(&x, base, base);
    check(&x, base, base - 1);
    check(&x, base, 0);
    check(&x, base, base + 400LL * 86400000 + 12345);
    check(&x, 0, 7258118400000 - 60000); /* 2199-12-31T23:59Z */
    return 0;
}
