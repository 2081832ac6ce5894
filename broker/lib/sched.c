/*
 * broker/lib/sched.c — rate() and cron() schedule expressions (sched.h).
 *
 * A cron is parsed into one bitset per field.  The next firing is found
 * day by day: a day whose year or month the expression excludes is skipped
 * a whole year or month at a time, and within a day that matches, the
 * first allowed hour and minute at or after the start is the answer.  So
 * the search costs at most one step per day up to SCHED_YEAR_MAX, and
 * usually a handful.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sched.h"

#define MS_PER_MIN 60000LL
#define MIN_PER_DAY 1440LL

static bool fail(char *err, size_t n, const char *fmt, ...)
{
    if (n > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* ---- civil dates ---- */

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : len[m - 1];
}

/* Leap years in [1, y]. */
static int64_t leaps_through(int64_t y)
{
    return y / 4 - y / 100 + y / 400;
}

int64_t sched_days_from_civil(int y, int m, int d)
{
    int64_t days = 365 * (int64_t)(y - 1970) + leaps_through(y - 1) - leaps_through(1969);
    for (int i = 1; i < m; i++) {
        days += month_days(y, i);
    }
    return days + d - 1;
}

void sched_civil_from_days(int64_t days, int *y, int *m, int *d)
{
    int64_t yy = 1970 + days / 366; /* never past the answer */
    while (sched_days_from_civil((int)yy + 1, 1, 1) <= days) {
        yy++;
    }
    while (sched_days_from_civil((int)yy, 1, 1) > days) {
        yy--;
    }
    int64_t rest = days - sched_days_from_civil((int)yy, 1, 1);
    int mm = 1;
    while (rest >= month_days((int)yy, mm)) {
        rest -= month_days((int)yy, mm);
        mm++;
    }
    *y = (int)yy;
    *m = mm;
    *d = (int)rest + 1;
}

/* 1 = Sunday … 7 = Saturday; 1970-01-01 was a Thursday. */
static int weekday(int64_t days)
{
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w) + 1;
}

/* ---- parsing ---- */

typedef struct {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] is the value lo + i, or NULL */
} field_def;

static const char *const MONTHS[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const DAYS[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

enum { F_MIN, F_HOUR, F_DOM, F_MONTH, F_DOW, F_YEAR, F_COUNT };

static const field_def FIELDS[F_COUNT] = {
    {"minutes", 0, 59, NULL},
    {"hours", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, MONTHS},
    {"day-of-week", 1, 7, DAYS},
    {"year", SCHED_YEAR_MIN, SCHED_YEAR_MAX, NULL},
};

typedef struct {
    uint64_t bits[4]; /* bit v - lo */
} bitset;

static void set_bit(bitset *b, int i)
{
    b->bits[i / 64] |= 1ULL << (i % 64);
}

/* A number or (where the field has names) a name; [s, e) is the token. */
static bool value(const field_def *f, const char *s, const char *e, int *out, char *err,
                  size_t n)
{
    if (s == e) {
        return fail(err, n, "cron %s: an empty value", f->name);
    }
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        for (const char *p = s; p < e; p++) {
            if (!isdigit((unsigned char)*p) || v > 100000) {
                return fail(err, n, "cron %s: '%.*s' is not a number", f->name, (int)(e - s), s);
            }
            v = v * 10 + (*p - '0');
        }
        if (v < f->lo || v > f->hi) {
            return fail(err, n, "cron %s: %ld is outside %d-%d", f->name, v, f->lo, f->hi);
        }
        *out = (int)v;
        return true;
    }
    if (f->names != NULL && e - s == 3) {
        for (int i = 0; i <= f->hi - f->lo; i++) {
            if (strncasecmp(s, f->names[i], 3) == 0) {
                *out = f->lo + i;
                return true;
            }
        }
    }
    return fail(err, n, "cron %s: '%.*s' is not a valid value", f->name, (int)(e - s), s);
}

/* One comma-separated item: A, A-B, A/S, A-B/S, or a star alone or followed by /S. */
static bool item(const field_def *f, const char *s, const char *e, bitset *b, char *err, size_t n)
{
    const char *slash = memchr(s, '/', (size_t)(e - s));
    const char *range_end = slash != NULL ? slash : e;
    int lo, hi, step = 1;
    if (range_end - s == 1 && *s == '*') {
        lo = f->lo;
        hi = f->hi;
    } else {
        const char *dash = memchr(s, '-', (size_t)(range_end - s));
        if (!value(f, s, dash != NULL ? dash : range_end, &lo, err, n)) {
            return false;
        }
        hi = lo;
        if (dash != NULL) {
            if (!value(f, dash + 1, range_end, &hi, err, n)) {
                return false;
            }
            if (hi < lo) {
                return fail(err, n, "cron %s: the range %.*s runs backwards", f->name,
                            (int)(range_end - s), s);
            }
        } else if (slash != NULL) {
            hi = f->hi; /* A/S: from A to the field's end */
        }
    }
    if (slash != NULL) {
        long v = 0;
        if (slash + 1 == e) {
            return fail(err, n, "cron %s: '/' needs an increment", f->name);
        }
        for (const char *p = slash + 1; p < e; p++) {
            if (!isdigit((unsigned char)*p) || v > 100000) {
                return fail(err, n, "cron %s: the increment '%.*s' is not a number", f->name,
                            (int)(e - slash - 1), slash + 1);
            }
            v = v * 10 + (*p - '0');
        }
        if (v < 1 || v > f->hi - f->lo + 1) {
            return fail(err, n, "cron %s: the increment %ld is outside 1-%d", f->name, v,
                        f->hi - f->lo + 1);
        }
        step = (int)v;
    }
    for (int v = lo; v <= hi; v += step) {
        set_bit(b, v - f->lo);
    }
    return true;
}

static bool list(const field_def *f, const char *s, const char *e, bitset *b, char *err, size_t n)
{
    memset(b, 0, sizeof(*b));
    while (true) {
        const char *comma = memchr(s, ',', (size_t)(e - s));
        const char *end = comma != NULL ? comma : e;
        if (!item(f, s, end, b, err, n)) {
            return false;
        }
        if (comma == NULL) {
            return true;
        }
        s = comma + 1;
    }
}

static bool is_token(const char *s, const char *e, const char *tok)
{
    size_t len = strlen(tok);
    return (size_t)(e - s) == len && strncasecmp(s, tok, len) == 0;
}

/* DOM's specials: ?, L, LW, NW.  Returns true when the token was one. */
static bool dom_special(sched_expr *x, const char *s, const char *e, bool *ok, char *err, size_t n)
{
    *ok = true;
    if (is_token(s, e, "?")) {
        x->dom_any = true;
    } else if (is_token(s, e, "L")) {
        x->dom_last = true;
    } else if (is_token(s, e, "LW")) {
        x->dom_last_wd = true;
    } else if (e - s >= 2 && (e[-1] == 'W' || e[-1] == 'w') && memchr(s, ',', (size_t)(e - s)) == NULL) {
        int d;
        *ok = value(&FIELDS[F_DOM], s, e - 1, &d, err, n);
        x->dom_near_wd = d;
    } else {
        return false;
    }
    return true;
}

/* DOW's specials: ?, L, NL, N#K. */
static bool dow_special(sched_expr *x, const char *s, const char *e, bool *ok, char *err, size_t n)
{
    *ok = true;
    const char *hash = memchr(s, '#', (size_t)(e - s));
    if (is_token(s, e, "?")) {
        x->dow_any = true;
    } else if (is_token(s, e, "L")) {
        x->dow = 1u << 7; /* Saturday, the last day of the week */
    } else if (hash != NULL) {
        int d;
        if (!value(&FIELDS[F_DOW], s, hash, &d, err, n)) {
            *ok = false;
        } else if (e - hash != 2 || hash[1] < '1' || hash[1] > '5') {
            *ok = fail(err, n, "cron day-of-week: '#' needs a week 1-5");
        } else {
            x->dow_nth_day = d;
            x->dow_nth = hash[1] - '0';
        }
    } else if (e - s >= 2 && (e[-1] == 'L' || e[-1] == 'l') && memchr(s, ',', (size_t)(e - s)) == NULL) {
        int d;
        *ok = value(&FIELDS[F_DOW], s, e - 1, &d, err, n);
        x->dow_last = d;
    } else {
        return false;
    }
    return true;
}

static bool parse_cron(const char *s, const char *e, sched_expr *x, char *err, size_t n)
{
    const char *tok[F_COUNT][2];
    int nf = 0;
    const char *p = s;
    while (p < e) {
        while (p < e && *p == ' ') {
            p++;
        }
        if (p == e) {
            break;
        }
        const char *q = p;
        while (q < e && *q != ' ') {
            q++;
        }
        if (nf == F_COUNT) {
            return fail(err, n, "cron takes 6 fields (minutes hours day-of-month month "
                                "day-of-week year), not more");
        }
        tok[nf][0] = p;
        tok[nf][1] = q;
        nf++;
        p = q;
    }
    if (nf != F_COUNT) {
        return fail(err, n, "cron takes 6 fields (minutes hours day-of-month month day-of-week "
                            "year); this has %d", nf);
    }
    bitset b;
    bool ok;
    if (!list(&FIELDS[F_MIN], tok[F_MIN][0], tok[F_MIN][1], &b, err, n)) {
        return false;
    }
    x->minutes = b.bits[0];
    if (!list(&FIELDS[F_HOUR], tok[F_HOUR][0], tok[F_HOUR][1], &b, err, n)) {
        return false;
    }
    x->hours = (uint32_t)b.bits[0];
    if (!list(&FIELDS[F_MONTH], tok[F_MONTH][0], tok[F_MONTH][1], &b, err, n)) {
        return false;
    }
    x->months = (uint16_t)(b.bits[0] << 1);
    if (!list(&FIELDS[F_YEAR], tok[F_YEAR][0], tok[F_YEAR][1], &b, err, n)) {
        return false;
    }
    memcpy(x->years, b.bits, sizeof(x->years));
    if (!dom_special(x, tok[F_DOM][0], tok[F_DOM][1], &ok, err, n)) {
        if (!list(&FIELDS[F_DOM], tok[F_DOM][0], tok[F_DOM][1], &b, err, n)) {
            return false;
        }
        x->dom = (uint32_t)(b.bits[0] << 1);
    } else if (!ok) {
        return false;
    }
    if (!dow_special(x, tok[F_DOW][0], tok[F_DOW][1], &ok, err, n)) {
        if (!list(&FIELDS[F_DOW], tok[F_DOW][0], tok[F_DOW][1], &b, err, n)) {
            return false;
        }
        x->dow = (uint8_t)(b.bits[0] << 1);
    } else if (!ok) {
        return false;
    }
    if (x->dom_any == x->dow_any) {
        return fail(err, n, "cron: exactly one of day-of-month and day-of-week must be '?'");
    }
    return true;
}

static bool parse_rate(const char *s, const char *e, sched_expr *x, char *err, size_t n)
{
    long v = 0;
    const char *p = s;
    if (p == e || !isdigit((unsigned char)*p)) {
        return fail(err, n, "rate needs a positive whole number first, as in rate(5 minutes)");
    }
    while (p < e && isdigit((unsigned char)*p)) {
        if (v > 1000000) {
            return fail(err, n, "rate: the value is above 1000000");
        }
        v = v * 10 + (*p++ - '0');
    }
    if (v < 1 || v > 1000000) {
        return fail(err, n, "rate: the value must be 1-1000000");
    }
    if (p == e || *p != ' ') {
        return fail(err, n, "rate needs a value and a unit, as in rate(5 minutes)");
    }
    while (p < e && *p == ' ') {
        p++;
    }
    const char *u = p;
    while (p < e && *p != ' ') {
        p++;
    }
    const char *ue = p;
    while (p < e && *p == ' ') {
        p++;
    }
    if (p != e) {
        return fail(err, n, "rate takes a value and a unit, nothing more");
    }
    static const struct {
        const char *one, *many;
        int64_t ms;
    } units[] = {
        {"minute", "minutes", MS_PER_MIN},
        {"hour", "hours", 60 * MS_PER_MIN},
        {"day", "days", MIN_PER_DAY * MS_PER_MIN},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        bool one = is_token(u, ue, units[i].one), many = is_token(u, ue, units[i].many);
        if (!one && !many) {
            continue;
        }
        if (one != (v == 1)) {
            return fail(err, n, "rate: use '%s' with %s", v == 1 ? units[i].one : units[i].many,
                        v == 1 ? "1" : "a value above 1");
        }
        x->period_ms = v * units[i].ms;
        return true;
    }
    return fail(err, n, "rate: the unit '%.*s' is not minute(s), hour(s) or day(s)", (int)(ue - u),
                u);
}

bool sched_parse(const char *expr, sched_expr *out, char *err, size_t errlen)
{
    if (errlen > 0) {
        err[0] = '\0';
    }
    memset(out, 0, sizeof(*out));
    if (expr == NULL) {
        return fail(err, errlen, "no schedule expression");
    }
    size_t len = strnlen(expr, SCHED_EXPR_MAX + 1);
    if (len > SCHED_EXPR_MAX) {
        return fail(err, errlen, "a schedule expression is at most %d bytes", SCHED_EXPR_MAX);
    }
    if (len < 6 || expr[len - 1] != ')') {
        return fail(err, errlen, "a schedule is rate(VALUE UNIT) or cron(6 FIELDS)");
    }
    const char *s = expr + 5, *e = expr + len - 1;
    if (strncasecmp(expr, "rate(", 5) == 0) {
        out->kind = SCHED_RATE;
        return parse_rate(s, e, out, err, errlen);
    }
    if (strncasecmp(expr, "cron(", 5) == 0) {
        out->kind = SCHED_CRON;
        return parse_cron(s, e, out, err, errlen);
    }
    return fail(err, errlen, "a schedule is rate(VALUE UNIT) or cron(6 FIELDS)");
}

/* ---- next firing ---- */

static bool has_year(const sched_expr *s, int y)
{
    int i = y - SCHED_YEAR_MIN;
    return (s->years[i / 64] >> (i % 64)) & 1;
}

/* The weekday (Mon-Fri) nearest day `d` of the month, never leaving it. */
static int nearest_weekday(int y, int m, int d)
{
    int dim = month_days(y, m);
    if (d > dim) {
        d = dim;
    }
    int w = weekday(sched_days_from_civil(y, m, d));
    if (w == 7) { /* Saturday: Friday, or Monday when the 1st */
        return d == 1 ? 3 : d - 1;
    }
    if (w == 1) { /* Sunday: Monday, or Friday when the month's last day */
        return d == dim ? d - 2 : d + 1;
    }
    return d;
}

static int last_weekday(int y, int m)
{
    int dim = month_days(y, m);
    int w = weekday(sched_days_from_civil(y, m, dim));
    return w == 7 ? dim - 1 : w == 1 ? dim - 2 : dim;
}

static bool day_matches(const sched_expr *s, int y, int m, int d, int64_t days)
{
    if (s->dow_any) {
        if (s->dom_last) {
            return d == month_days(y, m);
        }
        if (s->dom_last_wd) {
            return d == last_weekday(y, m);
        }
        if (s->dom_near_wd > 0) {
            return d == nearest_weekday(y, m, s->dom_near_wd);
        }
        return (s->dom >> d) & 1;
    }
    int w = weekday(days);
    if (s->dow_last > 0) {
        return w == s->dow_last && d + 7 > month_days(y, m);
    }
    if (s->dow_nth_day > 0) {
        return w == s->dow_nth_day && (d - 1) / 7 + 1 == s->dow_nth;
    }
    return (s->dow >> w) & 1;
}

/* The first allowed minute of the day at or after `from` (minute of day), or -1. */
static int first_minute(const sched_expr *s, int from)
{
    for (int h = from / 60; h < 24; h++) {
        if (!((s->hours >> h) & 1)) {
            continue;
        }
        for (int mi = h == from / 60 ? from % 60 : 0; mi < 60; mi++) {
            if ((s->minutes >> mi) & 1) {
                return h * 60 + mi;
            }
        }
    }
    return -1;
}

int64_t sched_next(const sched_expr *s, int64_t anchor_ms, int64_t after_ms)
{
    if (s->kind == SCHED_RATE) {
        if (s->period_ms <= 0) {
            return -1;
        }
        if (after_ms < anchor_ms) {
            return anchor_ms;
        }
        int64_t k = (after_ms - anchor_ms) / s->period_ms + 1;
        if (k > (INT64_MAX - anchor_ms) / s->period_ms) {
            return -1;
        }
        return anchor_ms + k * s->period_ms;
    }
    if (s->kind != SCHED_CRON) {
        return -1;
    }
    /* the first whole minute strictly after after_ms, never before 1970 */
    int64_t start = after_ms < 0 ? 0 : after_ms / MS_PER_MIN + 1;
    int64_t days = start / MIN_PER_DAY;
    int from = (int)(start % MIN_PER_DAY);
    int64_t end = sched_days_from_civil(SCHED_YEAR_MAX + 1, 1, 1);
    while (days < end) {
        int y, m, d;
        sched_civil_from_days(days, &y, &m, &d);
        if (!has_year(s, y)) {
            days = sched_days_from_civil(y + 1, 1, 1);
            from = 0;
            continue;
        }
        if (!((s->months >> m) & 1)) {
            days = m == 12 ? sched_days_from_civil(y + 1, 1, 1) : sched_days_from_civil(y, m + 1, 1);
            from = 0;
            continue;
        }
        if (day_matches(s, y, m, d, days)) {
            int mi = first_minute(s, from);
            if (mi >= 0) {
                return (days * MIN_PER_DAY + mi) * MS_PER_MIN;
            }
        }
        days++;
        from = 0;
    }
    return -1;
}
