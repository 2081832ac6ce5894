/*
 * tools/bench/plot.h — lamina-bench's plots: one self-contained SVG from a
 * result document (the JSON --json writes), so `--plot FILE.svg` during a
 * run and `lamina-bench plot RESULT.json` afterwards draw the same picture.
 *
 * Two panels, Lamina in blue (#1f77b4) and the baseline in orange
 * (#ff7f0e):
 *   - latency by percentile, HdrHistogram-style: the x axis is
 *     1 / (1 - percentile) on a log scale (0%, 90%, 99%, 99.9%, ...), drawn
 *     from the full histogram as a staircase, so the tail is as legible as
 *     the median;
 *   - latency over time: p50 (solid) and p99 (dashed) per bin of the
 *     run's "series" (present when the run kept samples, i.e. with --plot).
 */
#ifndef TOOLS_BENCH_PLOT_H
#define TOOLS_BENCH_PLOT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define PLOT_LAMINA_COLOR "#1f77b4"
#define PLOT_BASELINE_COLOR "#ff7f0e"

/* Write doc's plot to path ("-": stdout).  0, or -1 with a message in err
 * (no histogram in doc, cannot write). */
int plot_write(const cJSON *doc, const char *path, char *err, size_t errlen);

/* `lamina-bench plot RESULT.json [-o FILE.svg]`: exit status (0, 1 file or
 * content errors, 2 usage). */
int plot_main(int argc, char **argv);

#endif
