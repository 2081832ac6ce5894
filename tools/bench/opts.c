/*
 * tools/bench/opts.c — value parsing and --fail-if conditions (see opts.h).
 */
#include "opts.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A number followed by a unit from a table; 0 or -1. */
typedef struct unit {
    const char *name;
    double scale;
} unit;

static int scaled(const char *s, const unit *units, double *out)
{
    char *end = NULL;
    if (s == NULL || *s == '\0') {
        return -1;
    }
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0) {
        return -1;
    }
    for (const unit *u = units; u->name != NULL; u++) {
        if (strcasecmp(end, u->name) == 0) {
            *out = v * u->scale;
            return 0;
        }
    }
    return -1;
}

static const unit duration_units[] = {
    {"", 1e9}, {"s", 1e9},  {"ms", 1e6},   {"us", 1e3},   {"\xc2\xb5s", 1e3},
    {"ns", 1}, {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}, {NULL, 0},
};

int opts_duration_ns(const char *s, uint64_t *out)
{
    double v;
    if (scaled(s, duration_units, &v) != 0 || v > 1e18) {
        return -1;
    }
    *out = (uint64_t)llround(v);
    return 0;
}

int opts_size(const char *s, uint64_t *out)
{
    static const unit units[] = {
        {"", 1},          {"b", 1},           {"k", 1024},       {"kib", 1024}, {"kb", 1024},
        {"m", 1048576.0}, {"mib", 1048576.0}, {"mb", 1048576.0}, {NULL, 0},
    };
    double v;
    if (scaled(s, units, &v) != 0 || v > 1e12 || v != floor(v)) {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int opts_count(const char *s, uint64_t *out)
{
    static const unit units[] = {{"", 1}, {"k", 1e3}, {"m", 1e6}, {NULL, 0}};
    double v;
    if (scaled(s, units, &v) != 0 || v < 1 || v > 1e15 || v != floor(v)) {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static bool is_latency(const char *m)
{
    static const char *const names[] = {"p50", "p90", "p99", "p999", "p9999", "max", "mean", NULL};
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(m, names[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool known_metric(const char *m)
{
    static const char *const names[] = {"count",     "requests",  "throughput",       "errors",
                                        "ratio.p50", "ratio.p99", "ratio.throughput", NULL};
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(m, names[i]) == 0) {
            return true;
        }
    }
    return is_latency(m);
}

/* Split "p99>=50ms" into metric, operator and value text. */
static int split_cond(const char *text, failif_cond *c, const char **value)
{
    size_t k = strcspn(text, "<>");
    if (k == 0 || k >= sizeof(c->metric) || text[k] == '\0') {
        return -1;
    }
    memcpy(c->metric, text, k);
    c->metric[k] = '\0';
    bool eq = text[k + 1] == '=';
    c->op = text[k] == '>' ? (eq ? FAILIF_GE : FAILIF_GT) : (eq ? FAILIF_LE : FAILIF_LT);
    *value = text + k + 1 + (eq ? 1 : 0);
    return 0;
}

static int parse_value(failif_cond *c, const char *v)
{
    if (is_latency(c->metric)) {
        uint64_t ns;
        /* A latency needs its unit: "p99>50" is too easy to misread. */
        if (strspn(v, "0123456789.") == strlen(v) || opts_duration_ns(v, &ns) != 0) {
            return -1;
        }
        c->value = (double)ns / 1e3;
        return 0;
    }
    char *end = NULL;
    c->value = strtod(v, &end);
    if (end == v || !isfinite(c->value)) {
        return -1;
    }
    if (strcmp(c->metric, "errors") == 0 && strcmp(end, "%") == 0) {
        c->percent = true;
        c->value /= 100.0;
        return 0;
    }
    return *end == '\0' ? 0 : -1;
}

static int parse_one(const char *text, failif_cond *c, char *err, size_t errlen)
{
    const char *v = NULL;
    memset(c, 0, sizeof(*c));
    snprintf(c->text, sizeof(c->text), "%s", text);
    if (split_cond(text, c, &v) != 0 || !known_metric(c->metric)) {
        snprintf(err, errlen, "--fail-if: cannot read '%s' (want METRIC>VALUE, e.g. p99>50ms)",
                 text);
        return -1;
    }
    if (parse_value(c, v) != 0) {
        snprintf(err, errlen, "--fail-if: bad value in '%s'%s", text,
                 is_latency(c->metric) ? " (latencies need a unit: us, ms, s)" : "");
        return -1;
    }
    return 0;
}

int failif_parse(const char *expr, failif *out, char *err, size_t errlen)
{
    char buf[1024];
    memset(out, 0, sizeof(*out));
    if (expr == NULL || strlen(expr) >= sizeof(buf)) {
        snprintf(err, errlen, "--fail-if: expression missing or too long");
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", expr);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
        if (out->n == FAILIF_MAX) {
            snprintf(err, errlen, "--fail-if: at most %d conditions", FAILIF_MAX);
            return -1;
        }
        if (parse_one(tok, &out->c[out->n], err, errlen) != 0) {
            return -1;
        }
        out->n++;
    }
    if (out->n == 0) {
        snprintf(err, errlen, "--fail-if: no condition given");
        return -1;
    }
    return 0;
}

/* The figure a condition names; false when it cannot be known. */
static bool figure(const failif_cond *c, const bench_figures *f, double *v)
{
    const char *m = c->metric;
    if (strncmp(m, "ratio.", 6) == 0) {
        if (!f->has_ratio) {
            return false;
        }
        *v = strcmp(m, "ratio.p50") == 0   ? f->ratio_p50
             : strcmp(m, "ratio.p99") == 0 ? f->ratio_p99
                                           : f->ratio_throughput;
        return true;
    }
    if (strcmp(m, "errors") == 0) {
        *v = c->percent ? f->error_rate : f->errors;
        return true;
    }
    const struct {
        const char *name;
        double v;
    } t[] = {{"p50", f->p50_us},           {"p90", f->p90_us},     {"p99", f->p99_us},
             {"p999", f->p999_us},         {"p9999", f->p9999_us}, {"max", f->max_us},
             {"mean", f->mean_us},         {"count", f->count},    {"requests", f->requests},
             {"throughput", f->throughput}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (strcmp(m, t[i].name) == 0) {
            *v = t[i].v;
            return true;
        }
    }
    return false;
}

static bool holds(failif_op op, double a, double b)
{
    switch (op) {
    case FAILIF_GT: return a > b;
    case FAILIF_GE: return a >= b;
    case FAILIF_LT: return a < b;
    case FAILIF_LE: return a <= b;
    }
    return false;
}

int failif_eval(const failif *f, const bench_figures *fig, char *msg, size_t msglen)
{
    int n = 0;
    size_t used = 0;
    if (msglen > 0) {
        msg[0] = '\0';
    }
    for (int i = 0; i < f->n; i++) {
        const failif_cond *c = &f->c[i];
        double v = 0;
        bool known = figure(c, fig, &v);
        if (known && !holds(c->op, v, c->value)) {
            continue;
        }
        n++;
        int w = known ? snprintf(msg + used, msglen - used, "fail-if: %s (measured %.6g%s)\n",
                                 c->text, c->percent ? v * 100.0 : v, c->percent ? "%" : "")
                      : snprintf(msg + used, msglen - used,
                                 "fail-if: %s (no figure: needs --vs-baseline)\n", c->text);
        if (w > 0 && used + (size_t)w < msglen) {
            used += (size_t)w;
        }
    }
    return n;
}
