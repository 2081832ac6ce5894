/*
 * Unit: schedule expressions (broker/lib/sched.c) — rate() anchored at the
 * rule's creation, cron()'s six fields with EventBridge's wildcards (L, W,
 * #, ?), the day-by-day search across months, leap years and years, and
 * every malformed expression refused with a message.  Expected times come
 * from libc's timegm(), never from the code under test; the expected dates
 * themselves were worked out with Python's calendar module.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "lib/sched.h"

static int64_t at(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi};
    return (int64_t)timegm(&tm) * 1000;
}

static sched_expr parse_ok(const char *s)
{
    sched_expr x;
    char err[200];
    cr_assert(sched_parse(s, &x, err, sizeof(err)), "%s: %s", s, err);
    return x;
}

static void assert_next(const char *expr, int64_t after, int64_t want)
{
    sched_expr x = parse_ok(expr);
    int64_t got = sched_next(&x, 0, after);
    cr_assert_eq(got, want, "%s after %lld: got %lld, want %lld", expr, (long long)after,
                 (long long)got, (long long)want);
}

Test(sched, civil_days_agree_with_timegm_from_1970_to_2200)
{
    for (int64_t days = 0; days < 84000; days += 7) {
        time_t t = (time_t)(days * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        int y, m, d;
        sched_civil_from_days(days, &y, &m, &d);
        cr_assert(y == tm.tm_year + 1900 && m == tm.tm_mon + 1 && d == tm.tm_mday,
                  "day %lld: %d-%d-%d", (long long)days, y, m, d);
        cr_assert_eq(sched_days_from_civil(y, m, d), days);
    }
}

Test(sched, rate_fires_at_the_anchor_then_every_period)
{
    sched_expr x = parse_ok("rate(5 minutes)");
    cr_assert_eq(x.kind, SCHED_RATE);
    int64_t a = at(2026, 12, 7, 8, 0) + 30000;
    cr_assert_eq(sched_next(&x, a, a - 1), a);
    cr_assert_eq(sched_next(&x, a, a), a + 300000, "strictly after");
    cr_assert_eq(sched_next(&x, a, a + 7 * 60000), a + 600000);
    x = parse_ok("rate(1 hour)");
    cr_assert_eq(sched_next(&x, a, a + 1), a + 3600000);
    x = parse_ok("RATE(2 Days)");
    cr_assert_eq(sched_next(&x, a, a), a + 2 * 86400000LL);
}

Test(sched, cron_plain_fields)
{
    int64_t after = at(2026, 12, 7, 8, 0) + 30000;
    assert_next("cron(0 12 * * ? *)", after, at(2026, 12, 7, 12, 0));
    assert_next("cron(0 12 * * ? *)", at(2026, 12, 7, 12, 0), at(2026, 12, 8, 12, 0));
    assert_next("cron(0/15 * * * ? *)", after, at(2026, 12, 7, 8, 15));
    assert_next("cron(*/20 9-10 * * ? *)", at(2026, 12, 7, 10, 40), at(2026, 12, 8, 9, 0));
    assert_next("cron(0 8 1 * ? *)", after, at(2027, 1, 1, 8, 0));
    assert_next("cron(0 18 ? * MON-FRI *)", after, at(2026, 12, 7, 18, 0));
    assert_next("cron(0 18 ? * MON-FRI *)", at(2026, 12, 11, 18, 0), at(2026, 12, 14, 18, 0));
    assert_next("cron(5,35 0 ? * 1 *)", after, at(2026, 12, 13, 0, 5));
    assert_next("cron(0 0 29 FEB ? *)", after, at(2028, 2, 29, 0, 0));
    assert_next("cron(0 0 1 1 ? 2030-2031)", after, at(2030, 1, 1, 0, 0));
    assert_next("cron(0 0 1 1 ? 2030-2031)", at(2030, 1, 1, 0, 0), at(2031, 1, 1, 0, 0));
}

Test(sched, cron_wildcards_L_W_and_hash)
{
    int64_t after = at(2026, 12, 7, 8, 0) + 30000;
    /* the last Friday: 2026-12-25, then 2027-01-29 */
    assert_next("cron(15 10 ? * 6L *)", after, at(2026, 12, 25, 10, 15));
    assert_next("cron(15 10 ? * 6L *)", at(2026, 12, 25, 10, 15), at(2027, 1, 29, 10, 15));
    /* the second Tuesday */
    assert_next("cron(0 9 ? * 3#2 *)", after, at(2026, 12, 8, 9, 0));
    assert_next("cron(0 9 ? * TUE#2 *)", at(2026, 12, 8, 9, 0), at(2027, 1, 12, 9, 0));
    /* the month's last day, in a leap February */
    assert_next("cron(30 6 L * ? *)", at(2028, 2, 1, 0, 0), at(2028, 2, 29, 6, 30));
    /* the last weekday of December 2026 is Thursday the 31st */
    assert_next("cron(0 0 LW * ? *)", after, at(2026, 12, 31, 0, 0));
    /* 2027-05-15 is a Saturday (→ Friday 14th); 2027-08-15 a Sunday (→ Monday 16th) */
    assert_next("cron(0 0 15W MAY ? *)", after, at(2027, 5, 14, 0, 0));
    assert_next("cron(0 0 15W AUG ? *)", after, at(2027, 8, 16, 0, 0));
    /* 2027-05-01 is a Saturday: 1W is Monday the 3rd, never April 30th */
    assert_next("cron(0 0 1W MAY ? 2027)", after, at(2027, 5, 3, 0, 0));
    /* DOW L alone is Saturday */
    assert_next("cron(0 0 ? * L *)", after, at(2026, 12, 12, 0, 0));
}

Test(sched, a_cron_whose_years_are_past_never_fires)
{
    sched_expr x = parse_ok("cron(0 0 1 1 ? 1999)");
    cr_assert_eq(sched_next(&x, 0, at(2026, 1, 1, 0, 0)), -1);
    x = parse_ok("cron(0 0 31 FEB ? *)");
    cr_assert_eq(sched_next(&x, 0, at(2026, 1, 1, 0, 0)), -1, "February has no 31st");
}

Test(sched, malformed_expressions_are_refused_with_a_reason)
{
    static const char *const bad[] = {
        "",
        "rate(5 minutes",
        "rate()",
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(5 weeks)",
        "rate(-5 minutes)",
        "rate(5minutes)",
        "rate(5 minutes extra)",
        "rate(99999999 minutes)",
        "every(5 minutes)",
        "cron(0 12 * * ?)",
        "cron(0 12 * * ? * *)",
        "cron(0 12 * * * *)",
        "cron(0 12 ? * ? *)",
        "cron(60 12 * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 12 0 * ? *)",
        "cron(0 12 32 * ? *)",
        "cron(0 12 * 13 ? *)",
        "cron(0 12 ? * 8 *)",
        "cron(0 12 * * ? 1969)",
        "cron(0 12 * * ? 2200)",
        "cron(0 12 ? * FRI-MON *)",
        "cron(*/0 12 * * ? *)",
        "cron(0/ 12 * * ? *)",
        "cron(0 12 * FOO ? *)",
        "cron(0 12 ? * 3#6 *)",
        "cron(0 12 ? * 3# *)",
        "cron(0 12 1,15W * ? *)",
        "cron(0,,5 12 * * ? *)",
        "cron(0- 12 * * ? *)",
        "cron(a 12 * * ? *)",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sched_expr x;
        char err[200] = "unset";
        cr_assert_not(sched_parse(bad[i], &x, err, sizeof(err)), "accepted: %s", bad[i]);
        cr_assert(err[0] != '\0' && strcmp(err, "unset") != 0, "no reason for %s", bad[i]);
    }
    sched_expr x;
    char err[8];
    cr_assert_not(sched_parse(NULL, &x, err, sizeof(err)));
    char longer[400];
    memset(longer, ' ', sizeof(longer));
    memcpy(longer, "cron(", 5);
    memcpy(longer + sizeof(longer) - 13, "0 0 * * ? *)", 13); /* with its NUL */
    cr_assert_not(sched_parse(longer, &x, err, sizeof(err)), "over SCHED_EXPR_MAX");
}
