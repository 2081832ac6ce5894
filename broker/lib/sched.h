/*
 * broker/lib/sched.h — EventBridge schedule expressions: rate(...) and
 * cron(...), parsed once into a sched_expr and asked for their next firing.
 *
 * Grammar (EventBridge's, checked strictly; anything else is refused with a
 * message naming the field):
 *
 *   rate(VALUE UNIT)   VALUE a positive integer (at most 1,000,000);
 *                      UNIT minute|hour|day when VALUE is 1, and
 *                      minutes|hours|days otherwise (EventBridge's rule).
 *   cron(MIN HOUR DOM MONTH DOW YEAR)
 *     MIN   0-59        , - * /
 *     HOUR  0-23        , - * /
 *     DOM   1-31        , - * / ?  L  NW (the weekday nearest day N, within
 *                       the month)  LW (the last weekday of the month)
 *     MONTH 1-12|JAN-DEC , - * /
 *     DOW   1-7|SUN-SAT (1 = SUN)  , - * / ?  L (= SAT, the week's last
 *                       day)  NL (the last day N of the month)  N#K (the
 *                       K-th day N of the month, K 1-5)
 *     YEAR  1970-2199   , - * /
 *   Exactly one of DOM and DOW is `?` (EventBridge refuses both and
 *   neither).  Ranges run low to high (`FRI-MON` is refused).  `A/S`
 *   means A, A+S, … up to the field's end; `*\/S` starts at the field's
 *   first value.  Names are case-insensitive; so is the whole expression's
 *   keyword and unit.  All times are UTC, as EventBridge's rules are.
 *
 * Firing times:
 *   - rate: anchor, anchor + P, anchor + 2P, … where P is the period and
 *     anchor the rule's creation time (EventBridge starts a rate schedule
 *     when the rule is created).
 *   - cron: every whole minute the fields allow.
 *
 * No state, no allocation, no clock: callers pass times in (epoch ms).
 * Unit-tested in tests/unit/test_sched.c, fuzzed in tests/fuzz/fuzz_sched.c.
 */
#ifndef BROKER_LIB_SCHED_H
#define BROKER_LIB_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_EXPR_MAX 256 /* longest expression accepted, in bytes */
#define SCHED_YEAR_MIN 1970
#define SCHED_YEAR_MAX 2199

typedef enum { SCHED_RATE = 1, SCHED_CRON = 2 } sched_kind;

typedef struct sched_expr {
    sched_kind kind;
    int64_t period_ms; /* rate */
    /* cron: one bit per allowed value */
    uint64_t minutes;  /* bit m, 0-59 */
    uint32_t hours;    /* bit h, 0-23 */
    uint32_t dom;      /* bit d, 1-31 */
    uint16_t months;   /* bit m, 1-12 */
    uint8_t dow;       /* bit d, 1-7 (1 = Sunday) */
    uint64_t years[4]; /* bit y - SCHED_YEAR_MIN */
    bool dom_any;      /* DOM is '?': DOW decides */
    bool dow_any;      /* DOW is '?': DOM decides */
    bool dom_last;     /* DOM 'L' */
    bool dom_last_wd;  /* DOM 'LW' */
    int dom_near_wd;   /* DOM 'NW': N, else 0 */
    int dow_last;      /* DOW 'NL': N (1-7), else 0 */
    int dow_nth_day;   /* DOW 'N#K': N (1-7), else 0 */
    int dow_nth;       /* DOW 'N#K': K (1-5) */
} sched_expr;

/*
 * Parses `expr` into *out.  Returns false on any error, with a message in
 * err (always NUL-terminated when errlen > 0) that names the field and why.
 */
bool sched_parse(const char *expr, sched_expr *out, char *err, size_t errlen);

/*
 * The first firing strictly after `after_ms`, in epoch ms (UTC), or -1 when
 * there is none (a cron whose years are all past).  `anchor_ms` is where a
 * rate schedule starts (its first firing is anchor_ms itself when that is
 * after `after_ms`); cron ignores it.  Cost: at most one step per day up to
 * the year 2199 for a cron that seldom fires (a few ms at worst), one
 * division for a rate.
 */
int64_t sched_next(const sched_expr *s, int64_t anchor_ms, int64_t after_ms);

/* Civil date <-> days since 1970-01-01 (proleptic Gregorian, UTC). */
int64_t sched_days_from_civil(int y, int m, int d);
void sched_civil_from_days(int64_t days, int *y, int *m, int *d);

#endif
