/*
 * tools/bench/plot.c — the SVG plots of a result document (see plot.h).
 *
 * Everything is read back from the JSON document, never from the live
 * histograms, so a plot made during a run and one made later from its
 * --json file are the same bytes.
 */
#include "plot.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 960
#define PANEL_H 400
#define TOP 56 /* title */
#define ML 84 /* margins of a panel's plot area */
#define MR 24
#define MT 36
#define MB 52
#define MAX_DECADES 6 /* 99.9999% */

typedef struct area {
    double x0, y0, w, h; /* plot area in SVG units (y0: top) */
} area;

typedef struct side {
    const char *label;
    const char *color;
    const cJSON *hist; /* [[highest µs, count], ...] */
    const cJSON *series; /* {"points": [[t s, n, p50, p99, max], ...]} or NULL */
} side;

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str_or(const cJSON *o, const char *k, const char *dflt)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* A pair or row of numbers: element i, or 0. */
static double at(const cJSON *row, int i)
{
    const cJSON *v = cJSON_GetArrayItem(row, i);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

/* Text for SVG: & < > " escaped. */
static void put_text(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A "nice" tick step (1, 2 or 5 × 10^k) for about n ticks over [0, max]. */
static double nice_step(double max, int n)
{
    double raw = max > 0 ? max / n : 1.0;
    double mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

static void fmt_us(char *buf, size_t n, double us)
{
    if (us >= 1e6) {
        snprintf(buf, n, "%g s", us / 1e6);
    } else if (us >= 1e3) {
        snprintf(buf, n, "%g ms", us / 1e3);
    } else {
        snprintf(buf, n, "%g µs", us);
    }
}

/* The y axis of latency: horizontal grid lines and labels; returns the top
 * of the scale. */
static double y_axis(FILE *f, const area *a, double max_us)
{
    double step = nice_step(max_us, 5);
    double top = ceil((max_us > 0 ? max_us : 1) / step) * step;
    for (double v = 0; v <= top + step / 2; v += step) {
        double y = a->y0 + a->h - v / top * a->h;
        char lab[32];
        fmt_us(lab, sizeof(lab), v);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"12\">%s</text>\n",
                a->x0, y, a->x0 + a->w, y, a->x0 - 6, y + 4, lab);
    }
    fprintf(f,
            "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" "
            "font-size=\"13\">latency</text>\n",
            a->x0 - 66, a->y0 + a->h / 2);
    return top;
}

static void frame(FILE *f, const area *a, const char *title)
{
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#888888\"/>\n"
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"15\" font-weight=\"bold\">",
            a->x0, a->y0, a->w, a->h, a->x0, a->y0 - 12);
    put_text(f, title);
    fputs("</text>\n", f);
}

static void legend(FILE *f, const area *a, const side *s, int n, const char *suffix)
{
    for (int i = 0; i < n; i++) {
        double x = a->x0 + 14, y = a->y0 + 20 + 20 * i;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"3\"/>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\">",
                x, y, x + 28, y, s[i].color, x + 36, y + 4);
        put_text(f, s[i].label);
        fprintf(f, "%s</text>\n", suffix);
    }
}

/* ---- latency by percentile -------------------------------------------- */

static double total_count(const cJSON *hist)
{
    double n = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, hist)
    {
        n += at(b, 1);
    }
    return n;
}

/* x of a cumulative fraction q on the log scale of 1/(1-q). */
static double x_of(const area *a, double q, int decades)
{
    double lim = 1.0 - pow(10.0, -decades);
    q = q < lim ? q : lim;
    return a->x0 + log10(1.0 / (1.0 - q)) / decades * a->w;
}

static void percentile_panel(FILE *f, const area *a, const side *s, int n)
{
    double most = 0, max_us = 0;
    for (int i = 0; i < n; i++) {
        double t = total_count(s[i].hist);
        most = t > most ? t : most;
        const cJSON *last = cJSON_GetArrayItem(s[i].hist, cJSON_GetArraySize(s[i].hist) - 1);
        max_us = at(last, 0) > max_us ? at(last, 0) : max_us;
    }
    /* as many nines as the larger side's count resolves, 2 to 6 */
    int decades = (int)ceil(log10(most > 1 ? most : 1));
    decades = decades < 2 ? 2 : decades > MAX_DECADES ? MAX_DECADES : decades;
    frame(f, a, "Latency by percentile");
    double top = y_axis(f, a, max_us);
    static const char *const names[] = {"0%",     "90%",     "99%",     "99.9%",
                                        "99.99%", "99.999%", "99.9999%"};
    for (int d = 0; d <= decades; d++) {
        double x = a->x0 + (double)d / decades * a->w;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">%s</text>\n",
                x, a->y0, x, a->y0 + a->h, x, a->y0 + a->h + 18, names[d]);
    }
    fprintf(f,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">percentile "
            "(log scale of 1/(1-p))</text>\n",
            a->x0 + a->w / 2, a->y0 + a->h + 40);
    for (int i = 0; i < n; i++) {
        double total = total_count(s[i].hist), cum = 0;
        if (total <= 0) {
            continue;
        }
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"",
                s[i].color);
        const cJSON *b;
        cJSON_ArrayForEach(b, s[i].hist)
        {
            /* a step: the bucket's value from where the values below it end
             * to where its own end */
            double y = a->y0 + a->h - at(b, 0) / top * a->h;
            fprintf(f, "%.1f,%.1f ", x_of(a, cum / total, decades), y);
            cum += at(b, 1);
            fprintf(f, "%.1f,%.1f ", x_of(a, cum / total, decades), y);
        }
        fputs("\"/>\n", f);
    }
    legend(f, a, s, n, "");
}

/* ---- latency over time ------------------------------------------------- */

static void time_panel(FILE *f, const area *a, const side *s, int n)
{
    double max_t = 0, max_us = 0;
    bool any = false;
    for (int i = 0; i < n; i++) {
        const cJSON *pt;
        cJSON_ArrayForEach(pt, get(s[i].series, "points"))
        {
            any = true;
            max_t = at(pt, 0) > max_t ? at(pt, 0) : max_t;
            max_us = at(pt, 3) > max_us ? at(pt, 3) : max_us;
        }
    }
    frame(f, a, "Latency over time (p50 solid, p99 dashed)");
    if (!any) {
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\">no samples "
                "in this result (run lamina-bench with --plot)</text>\n",
                a->x0 + a->w / 2, a->y0 + a->h / 2);
        return;
    }
    double top = y_axis(f, a, max_us);
    double step = nice_step(max_t, 8);
    double right = ceil(max_t / step) * step;
    for (double t = 0; t <= right + step / 2; t += step) {
        double x = a->x0 + t / right * a->w;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">%g s</text>\n",
                x, a->y0, x, a->y0 + a->h, x, a->y0 + a->h + 18, t);
    }
    fprintf(f,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">time into the "
            "measured run (rounds of a side follow one another)</text>\n",
            a->x0 + a->w / 2, a->y0 + a->h + 40);
    for (int i = 0; i < n; i++) {
        for (int col = 2; col <= 3; col++) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s points=\"",
                    s[i].color, col == 2 ? "2.5" : "1.5",
                    col == 3 ? " stroke-dasharray=\"6,4\"" : "");
            const cJSON *pt;
            cJSON_ArrayForEach(pt, get(s[i].series, "points"))
            {
                fprintf(f, "%.1f,%.1f ", a->x0 + at(pt, 0) / right * a->w,
                        a->y0 + a->h - at(pt, col) / top * a->h);
            }
            fputs("\"/>\n", f);
        }
    }
    legend(f, a, s, n, "");
}

/* ---- the document ------------------------------------------------------ */

int plot_write(const cJSON *doc, const char *path, char *err, size_t errlen)
{
    side s[2];
    int n = 0;
    const cJSON *h = get(get(doc, "histogram"), "buckets");
    if (!cJSON_IsArray(h) || cJSON_GetArraySize(h) == 0) {
        snprintf(err, errlen, "the result holds no latency histogram (histogram.buckets)");
        return -1;
    }
    s[n++] = (side){.label = str_or(doc, "target", "lamina"),
                    .color = PLOT_LAMINA_COLOR,
                    .hist = h,
                    .series = get(doc, "series")};
    const cJSON *base = get(doc, "baseline");
    const cJSON *bh = get(get(base, "histogram"), "buckets");
    if (cJSON_IsArray(bh) && cJSON_GetArraySize(bh) > 0) {
        s[n++] = (side){.label = str_or(doc, "baseline_kind", "baseline"),
                        .color = PLOT_BASELINE_COLOR,
                        .hist = bh,
                        .series = get(base, "series")};
    }
    bool out = strcmp(path, "-") == 0;
    FILE *f = out ? stdout : fopen(path, "w");
    if (f == NULL) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    int height = TOP + 2 * PANEL_H;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"32\" font-size=\"18\" font-weight=\"bold\">lamina-bench ",
            W, height, W, height, ML);
    put_text(f, str_or(doc, "mode", "?"));
    if (get(doc, "function") != NULL) {
        fputc(' ', f);
        put_text(f, str_or(doc, "function", ""));
    }
    fputs(" — ", f);
    put_text(f, str_or(doc, "date", ""));
    fputs("</text>\n", f);
    area p = {ML, TOP + MT, W - ML - MR, PANEL_H - MT - MB};
    percentile_panel(f, &p, s, n);
    area t = {ML, TOP + PANEL_H + MT, W - ML - MR, PANEL_H - MT - MB};
    time_panel(f, &t, s, n);
    fputs("</svg>\n", f);
    if (ferror(f) || (!out && fclose(f) != 0)) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    return 0;
}

/* RESULT.json -> RESULT.svg (or RESULT + .svg) */
static void default_out(const char *in, char *out, size_t n)
{
    size_t l = strlen(in);
    if (l > 5 && strcmp(in + l - 5, ".json") == 0) {
        snprintf(out, n, "%.*s.svg", (int)(l - 5), in);
    } else {
        snprintf(out, n, "%s.svg", in);
    }
}

int plot_main(int argc, char **argv)
{
    /* argv: plot RESULT.json [-o FILE.svg] */
    const char *in = NULL, *outp = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            outp = argv[++i];
        } else if (in == NULL && argv[i][0] != '-') {
            in = argv[i];
        } else {
            fprintf(stderr, "usage: lamina-bench plot RESULT.json [-o FILE.svg]\n");
            return 2;
        }
    }
    if (in == NULL) {
        fprintf(stderr, "usage: lamina-bench plot RESULT.json [-o FILE.svg]\n");
        return 2;
    }
    FILE *f = fopen(in, "r");
    if (f == NULL) {
        fprintf(stderr, "lamina-bench: cannot open %s\n", in);
        return 1;
    }
    char *text = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = (len + 65536 + 1) * 2;
            char *t = realloc(text, cap);
            if (t == NULL) {
                free(text);
                fclose(f);
                fprintf(stderr, "lamina-bench: out of memory\n");
                return 1;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, 65536, f);
        len += got;
        if (got == 0) {
            break;
        }
    }
    fclose(f);
    text[len] = '\0';
    cJSON *doc = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        fprintf(stderr, "lamina-bench: %s is not a lamina-bench JSON result\n", in);
        return 1;
    }
    char def[4096], err[512];
    if (outp == NULL) {
        default_out(in, def, sizeof(def));
        outp = def;
    }
    int rc = plot_write(doc, outp, err, sizeof(err));
    cJSON_Delete(doc);
    if (rc != 0) {
        fprintf(stderr, "lamina-bench: %s: %s\n", in, err);
        return 1;
    }
    return 0;
}
