/*
 * tools/bench/main.c — lamina-bench's command line: parse options into a
 * bench_spec, run it, write the JSON, apply --fail-if.  Also dispatches the
 * hidden helper modes the baselines spawn (__baseline-*).  In queue mode,
 * -s is the message body's length ('x' padding; the baseline carries the
 * same number of bytes).
 *
 * Exit codes: 0 done; 1 the run could not be made (broker unreachable,
 * helpers failed, file errors); 2 usage; 3 a --fail-if condition held.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lamina/client.h>

#include "baseline.h"
#include "bench.h"
#include "esm.h"
#include "opts.h"
#include "plot.h"
#include "report.h"

#define EXIT_RUN 1
#define EXIT_USAGE 2
#define EXIT_FAILIF 3
#define MAX_PAYLOAD (6u * 1024u * 1024u)

typedef struct cli {
    bench_spec spec;
    const char *mode;
    bool n_given, d_given, w_given, c_given;
    uint64_t size;
    const char *payload_text;
    const char *payload_file;
    const char *json_path;
    const char *plot_path; /* --plot FILE.svg */
    const char *handler_dir;
    const char *op; /* queue mode's --op */
    bool rules_given; /* --rules (bus mode) */
    bool url_baseline_given; /* --url-baseline (url mode) */
    bool hops_given;
    bool cold_baseline_given; /* --cold-baseline (cold modes) */
    bool has_failif;
    failif fail;
    int esm_batch; /* esm mode's --batch-size (0: 10) */
    char *payload_buf; /* owned */
} cli;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: lamina-bench [--state DIR | --endpoint URL] MODE [NAME] [options]\n"
            "\n"
            "modes:\n"
            "  invoke NAME      invoke a function (sync; --async for Event invokes)\n"
            "  cold NAME        first-invoke latency of fresh environments (retire-workers\n"
            "                   before each invoke); -n defaults to 20, -c is 1\n"
            "  baseline         the raw nng path only: client -> forwarder -> echo (ipc)\n"
            "  cold-baseline    fork+exec of a process that dials back over nng and answers\n"
            "  stream NAME      a stream (4 shards, created if missing), by --op: put\n"
            "                   (default): one stream-put of -s BYTES, timed to the durable\n"
            "                   acknowledgement; latency: put, then get-records until it\n"
            "                   comes back\n"
            "  bus NAME         a bus (with queue NAME-q, rule bench-match -> it, and\n"
            "                   --rules N in all, 1-10000; made if missing), by --op: put\n"
            "                   (default): one bus-put-events of a -s BYTES Detail, timed\n"
            "                   to the commit that stored its delivery; latency: put, then\n"
            "                   long-poll receive on NAME-q until it comes (use -c 1)\n"
            "  queue NAME       a standard queue (created if missing), by --op:\n"
            "                   send (default): one queue-send per request, timed to the\n"
            "                   durable acknowledgement; receive: one queue-receive (10,\n"
            "                   no wait) + a delete per message, after a prefill;\n"
            "                   latency: send, then long-poll receive + delete, timed\n"
            "                   send to receive; get: one queue-get (an api round trip)\n"
            "  url NAME         POST the payload to function NAME's URL (made with\n"
            "                   AuthType NONE if missing; the broker must run with --http),\n"
            "                   HTTP/1.1 keep-alive, one connection per caller; with\n"
            "                   --vs-baseline against --url-baseline api (the same\n"
            "                   function over the api socket, default) or mhd (a trivial\n"
            "                   libmicrohttpd responder echoing each POST)\n"
            "  esm FUNCTION     records/s through an event source mapping of a fresh queue\n"
            "                   (-n RECORDS, default 2000, of -s BYTES; --batch-size N,\n"
            "                   default 10) beside invoking FUNCTION directly with the same\n"
            "                   batches from 5 callers, and send->done latency (batch 1)\n"
            "  standard         the standard set; needs --handlers DIR (echo.so)\n"
            "\n"
            "load shape:\n"
            "  -c, --concurrency N   callers (default 1)\n"
            "  -n, --requests N      measured requests (instead of -d)\n"
            "  -d, --duration DUR    measured time (default 10s; 500ms, 2m ...)\n"
            "  -R, --rate RPS        open loop at RPS requests/s, latency from the intended\n"
            "                        send time (coordinated omission corrected)\n"
            "  -w, --warmup DUR      unmeasured lead-in of every round (default 1s; cold 0)\n"
            "      --first-warmup DUR  lead-in of each side's first round (default: -w)\n"
            "  -s, --size BYTES      payload size (a JSON object padded to BYTES; default 64;\n"
            "                        queue: the message body, BYTES of 'x')\n"
            "      --payload JSON    payload text;  --payload-file FILE  payload from a file\n"
            "      --async           Event invokes: time to acceptance (202)\n"
            "      --end-to-end      with --async: time until the event ran and its OnSuccess\n"
            "                        destination ran the record (event-wait); the time to\n"
            "                        the 202 is reported beside it\n"
            "      --timeout DUR     per-request reply timeout (default 60s)\n"
            "      --time-limit DUR  start no request later than DUR into a round\n"
            "      --op OP           queue mode: send | receive | latency | get\n"
            "      --prefill N       queue receive: fill to N visible messages before each\n"
            "                        round (default: enough for the round)\n"
            "      --rules N         bus mode: rules on the bus, 1 matching (default 1)\n"
            "      --url-baseline api|mhd  url mode: what --vs-baseline compares with\n"
            "      --cold-baseline exec|template  cold modes: fork+exec+connect (default)\n"
            "                        or a template process that forks without exec, then\n"
            "                        dlopen (--template-so FILE.so) + seccomp + connect\n"
            "comparison and output:\n"
            "      --vs-baseline     alternate Lamina and baseline rounds; report ratios\n"
            "      --rounds K        rounds per side (default 3 with --vs-baseline, else 1)\n"
            "      --hops 1|2        warm baseline: 2 (client, forwarder, echo; default) or\n"
            "                        1 (raw req/rep to the echo)\n"
            "      --json FILE       write the summary and histogram as JSON (- = stdout)\n"
            "      --plot FILE.svg   draw latency by percentile (log scale) and over time,\n"
            "                        Lamina beside the baseline; later from a --json file:\n"
            "                        lamina-bench plot RESULT.json [-o FILE.svg]\n"
            "      --fail-if EXPR    exit 3 if any holds, e.g. 'p99>50ms,errors>0.1%%'\n"
            "                        (p50 p90 p99 p999 p9999 max mean count requests\n"
            "                        throughput errors ratio.p50 ratio.p99 ratio.throughput)\n"
            "  -q, --quiet           no summary on stderr\n");
}

enum {
    OPT_STATE = 256,
    OPT_ENDPOINT,
    OPT_PAYLOAD,
    OPT_PAYLOAD_FILE,
    OPT_ASYNC,
    OPT_E2E,
    OPT_TIMEOUT,
    OPT_VS,
    OPT_ROUNDS,
    OPT_JSON,
    OPT_FAILIF,
    OPT_HANDLERS,
    OPT_TIME_LIMIT,
    OPT_FIRST_WARMUP,
    OPT_OP,
    OPT_PREFILL,
    OPT_RULES,
    OPT_HOPS,
    OPT_URL_BASELINE,
    OPT_BATCH,
    OPT_PLOT,
    OPT_COLD_BASELINE,
    OPT_TEMPLATE_SO,
};

static const struct option long_opts[] = {
    {"state", required_argument, NULL, OPT_STATE},
    {"url-baseline", required_argument, NULL, OPT_URL_BASELINE},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"concurrency", required_argument, NULL, 'c'},
    {"requests", required_argument, NULL, 'n'},
    {"duration", required_argument, NULL, 'd'},
    {"rate", required_argument, NULL, 'R'},
    {"warmup", required_argument, NULL, 'w'},
    {"size", required_argument, NULL, 's'},
    {"payload", required_argument, NULL, OPT_PAYLOAD},
    {"payload-file", required_argument, NULL, OPT_PAYLOAD_FILE},
    {"async", no_argument, NULL, OPT_ASYNC},
    {"end-to-end", no_argument, NULL, OPT_E2E},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"vs-baseline", no_argument, NULL, OPT_VS},
    {"rounds", required_argument, NULL, OPT_ROUNDS},
    {"json", required_argument, NULL, OPT_JSON},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"cold-baseline", required_argument, NULL, OPT_COLD_BASELINE},
    {"template-so", required_argument, NULL, OPT_TEMPLATE_SO},
    {"fail-if", required_argument, NULL, OPT_FAILIF},
    {"handlers", required_argument, NULL, OPT_HANDLERS},
    {"time-limit", required_argument, NULL, OPT_TIME_LIMIT},
    {"first-warmup", required_argument, NULL, OPT_FIRST_WARMUP},
    {"op", required_argument, NULL, OPT_OP},
    {"prefill", required_argument, NULL, OPT_PREFILL},
    {"rules", required_argument, NULL, OPT_RULES},
    {"hops", required_argument, NULL, OPT_HOPS},
    {"batch-size", required_argument, NULL, OPT_BATCH},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int bad(const char *what, const char *v)
{
    fprintf(stderr, "lamina-bench: bad %s '%s'\n", what, v);
    return -1;
}

static int parse_shape_opt(cli *c, int opt, const char *v)
{
    load_shape *s = &c->spec.shape;
    uint64_t n = 0;
    switch (opt) {
    case 'c':
        if (opts_count(v, &n) != 0 || n > LOAD_MAX_CONCURRENCY) {
            return bad("concurrency", v);
        }
        s->concurrency = (int)n;
        c->c_given = true;
        return 0;
    case 'n':
        c->n_given = true;
        return opts_count(v, &s->requests) == 0 ? 0 : bad("request count", v);
    case 'd':
        c->d_given = true;
        return opts_duration_ns(v, &s->duration_ns) == 0 && s->duration_ns > 0 ? 0
                                                                               : bad("duration", v);
    case 'w':
        c->w_given = true;
        return opts_duration_ns(v, &s->warmup_ns) == 0 ? 0 : bad("warm-up", v);
    case 'R': {
        char *end = NULL;
        s->rate = strtod(v, &end);
        return (end != v && *end == '\0' && s->rate > 0 && s->rate <= 1e7) ? 0 : bad("rate", v);
    }
    }
    return -1;
}

static int parse_other_opt(cli *c, int opt, const char *v)
{
    char err[256];
    uint64_t ns = 0;
    switch (opt) {
    case OPT_STATE: c->spec.state_dir = v; return 0;
    case OPT_ENDPOINT: c->spec.endpoint = v; return 0;
    case 's': return opts_size(v, &c->size) == 0 && c->size <= MAX_PAYLOAD ? 0 : bad("size", v);
    case OPT_PAYLOAD: c->payload_text = v; return 0;
    case OPT_PAYLOAD_FILE: c->payload_file = v; return 0;
    case OPT_ASYNC: c->spec.async = true; return 0;
    case OPT_E2E: c->spec.end_to_end = true; return 0;
    case OPT_TIMEOUT:
        if (opts_duration_ns(v, &ns) != 0 || ns < 1000000u || ns > 3600e9) {
            return bad("timeout", v);
        }
        c->spec.timeout_ms = (int)(ns / 1000000u);
        return 0;
    case OPT_TIME_LIMIT:
        return opts_duration_ns(v, &c->spec.shape.limit_ns) == 0 && c->spec.shape.limit_ns > 0
                   ? 0
                   : bad("time limit", v);
    case OPT_FIRST_WARMUP:
        return opts_duration_ns(v, &c->spec.first_warmup_ns) == 0 ? 0 : bad("warm-up", v);
    case OPT_VS: c->spec.vs_baseline = true; return 0;
    case OPT_ROUNDS:
        c->spec.rounds = atoi(v);
        return c->spec.rounds >= 1 && c->spec.rounds <= 100 ? 0 : bad("rounds", v);
    case OPT_JSON: c->json_path = v; return 0;
    case OPT_COLD_BASELINE:
        c->cold_baseline_given = true;
        if (strcmp(v, "exec") == 0 || strcmp(v, "template") == 0) {
            c->spec.cold_template = v[0] == 't';
            return 0;
        }
        return bad("cold baseline (exec or template)", v);
    case OPT_TEMPLATE_SO: c->spec.template_so = v; return 0;
    case OPT_PLOT:
        c->plot_path = v;
        c->spec.samples = true;
        return 0;
    case OPT_BATCH:
        c->esm_batch = atoi(v);
        return c->esm_batch >= 1 && c->esm_batch <= 10000 ? 0 : bad("batch size", v);
    case OPT_FAILIF:
        if (failif_parse(v, &c->fail, err, sizeof(err)) != 0) {
            fprintf(stderr, "lamina-bench: %s\n", err);
            return -1;
        }
        c->has_failif = true;
        return 0;
    case OPT_HANDLERS: c->handler_dir = v; return 0;
    case OPT_OP:
        c->op = v; /* checked by settle_queue, which knows the mode */
        return 0;
    case OPT_PREFILL: return opts_count(v, &c->spec.prefill) == 0 ? 0 : bad("prefill", v);
    case OPT_RULES: {
        uint64_t n = 0;
        c->rules_given = true;
        if (opts_count(v, &n) != 0 || n < 1 || n > BUS_RULES_MAX) {
            return bad("rule count (1-10000)", v);
        }
        c->spec.bus_rules = (int)n;
        return 0;
    }
    case OPT_HOPS:
        c->hops_given = true;
        c->spec.baseline_hops = atoi(v);
        return strcmp(v, "1") == 0 || strcmp(v, "2") == 0 ? 0 : bad("hops", v);
    case OPT_URL_BASELINE:
        c->url_baseline_given = true;
        if (strcmp(v, "api") == 0 || strcmp(v, "mhd") == 0) {
            c->spec.url_vs = v[0] == 'a' ? URL_VS_API : URL_VS_MHD;
            return 0;
        }
        return bad("url baseline (api or mhd)", v);
    case 'q': c->spec.quiet = true; return 0;
    }
    return -1;
}

static int parse_args(cli *c, int argc, char **argv)
{
    int opt;
    while ((opt = getopt_long(argc, argv, "c:n:d:R:w:s:qh", long_opts, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            exit(0);
        }
        if (opt == '?') {
            return -1;
        }
        int rc = opt < 256 && strchr("cndRw", opt) != NULL ? parse_shape_opt(c, opt, optarg)
                                                           : parse_other_opt(c, opt, optarg);
        if (rc != 0) {
            return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "lamina-bench: no mode given\n");
        return -1;
    }
    c->mode = argv[optind++];
    c->spec.function = optind < argc ? argv[optind++] : NULL;
    if (optind < argc) {
        fprintf(stderr, "lamina-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int set_mode(cli *c)
{
    static const struct {
        const char *name;
        bench_mode mode;
        bool needs_function;
    } modes[] = {{"invoke", BENCH_INVOKE, true},
                 {"cold", BENCH_COLD, true},
                 {"baseline", BENCH_BASELINE, false},
                 {"cold-baseline", BENCH_COLD_BASELINE, false},
                 {"queue", BENCH_QUEUE, true},
                 {"stream", BENCH_STREAM, true},
                 {"bus", BENCH_BUS, true},
                 {"url", BENCH_URL, true}};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(c->mode, modes[i].name) == 0) {
            c->spec.mode = modes[i].mode;
            if (modes[i].needs_function != (c->spec.function != NULL)) {
                fprintf(stderr, "lamina-bench: %s %s %s name\n", c->mode,
                        modes[i].needs_function ? "needs" : "takes no",
                        modes[i].mode == BENCH_QUEUE    ? "a queue"
                        : modes[i].mode == BENCH_STREAM ? "a stream"
                        : modes[i].mode == BENCH_BUS    ? "a bus"
                                                        : "a function");
                return -1;
            }
            return 0;
        }
    }
    fprintf(stderr, "lamina-bench: unknown mode '%s'\n", c->mode);
    return -1;
}

/* The queue mode's own checks. */
static int settle_queue(cli *c)
{
    const bench_spec *s = &c->spec;
    bool q = s->mode == BENCH_QUEUE;
    if (s->mode == BENCH_BUS) {
        if (c->op != NULL && bus_op_parse(c->op, &c->spec.bus_op) != 0) {
            fprintf(stderr, "lamina-bench: bus --op is put or latency, not '%s'\n", c->op);
            return -1;
        }
        if (s->prefill != 0 || s->async || c->payload_text != NULL || c->payload_file != NULL ||
            c->size < 1 || c->size > 200u * 1024u) {
            fprintf(stderr, "lamina-bench: bus takes --op, --rules and -s BYTES (1..204800)\n");
            return -1;
        }
        return 0;
    }
    if (c->rules_given) {
        fprintf(stderr, "lamina-bench: --rules applies to bus\n");
        return -1;
    }
    if (c->url_baseline_given != (s->mode == BENCH_URL && c->url_baseline_given)) {
        fprintf(stderr, "lamina-bench: --url-baseline applies to url\n");
        return -1;
    }
    if (s->mode == BENCH_URL && (s->async || c->op != NULL || s->prefill != 0 || c->hops_given)) {
        fprintf(stderr, "lamina-bench: url takes the load shape (closed or open loop), the "
                        "payload, --vs-baseline and --url-baseline\n");
        return -1;
    }
    if (s->mode == BENCH_STREAM) {
        if (c->op != NULL && stream_op_parse(c->op, &c->spec.stream_op) != 0) {
            fprintf(stderr, "lamina-bench: stream --op is put or latency, not '%s'\n", c->op);
            return -1;
        }
        if (s->prefill != 0 || s->async || c->payload_text != NULL || c->payload_file != NULL ||
            c->size < 1 || c->size > 1024u * 1024u - 64u) {
            fprintf(stderr, "lamina-bench: stream takes --op and -s BYTES (1..1048512)\n");
            return -1;
        }
        return 0;
    }
    if (!q && (c->op != NULL || s->prefill != 0)) {
        fprintf(stderr, "lamina-bench: --op and --prefill apply to queue and stream\n");
        return -1;
    }
    if (q && c->op != NULL && queue_op_parse(c->op, &c->spec.queue_op) != 0) {
        fprintf(stderr, "lamina-bench: bad queue op '%s'\n", c->op);
        return -1;
    }
    if (c->hops_given && s->mode != BENCH_BASELINE && !s->vs_baseline) {
        fprintf(stderr, "lamina-bench: --hops applies to baseline and --vs-baseline\n");
        return -1;
    }
    if (!q) {
        return 0;
    }
    if (!queue_name_valid(s->function)) {
        fprintf(stderr,
                "lamina-bench: '%s' is not a standard queue name (1-80 of A-Z a-z 0-9 _ -)\n",
                s->function);
        return -1;
    }
    if (s->async || c->payload_text != NULL || c->payload_file != NULL) {
        fprintf(stderr, "lamina-bench: queue takes -s BYTES, not --async or --payload*\n");
        return -1;
    }
    if (s->prefill != 0 && s->queue_op != QUEUE_RECEIVE) {
        fprintf(stderr, "lamina-bench: --prefill applies to --op receive\n");
        return -1;
    }
    if (c->size < 1 || c->size > 256u * 1024u) {
        fprintf(stderr, "lamina-bench: queue -s must be 1..262144 (SQS's largest body)\n");
        return -1;
    }
    return 0;
}

/* Defaults that depend on the mode, and checks across options. */
static int settle(cli *c)
{
    bench_spec *s = &c->spec;
    bool cold = s->mode == BENCH_COLD || s->mode == BENCH_COLD_BASELINE;
    if (c->n_given && c->d_given) {
        fprintf(stderr, "lamina-bench: give -n or -d, not both\n");
        return -1;
    }
    if (!c->n_given && !c->d_given) {
        if (cold) {
            s->shape.requests = 20;
        } else {
            s->shape.duration_ns = UINT64_C(10000000000);
        }
    }
    if (!c->n_given) {
        s->shape.requests = cold && !c->d_given ? s->shape.requests : 0;
    }
    if (!c->w_given) {
        s->shape.warmup_ns = cold ? 0 : UINT64_C(1000000000);
    }
    if (s->vs_baseline && (s->mode == BENCH_BASELINE || s->mode == BENCH_COLD_BASELINE)) {
        fprintf(stderr, "lamina-bench: --vs-baseline applies to invoke, cold and queue\n");
        return -1;
    }
    if ((c->cold_baseline_given || s->template_so != NULL) && !cold) {
        fprintf(stderr, "lamina-bench: --cold-baseline and --template-so apply to cold and "
                        "cold-baseline\n");
        return -1;
    }
    if (s->template_so != NULL && !s->cold_template) {
        fprintf(stderr, "lamina-bench: --template-so needs --cold-baseline template\n");
        return -1;
    }
    if (cold && s->shape.concurrency != 1) {
        fprintf(stderr, "lamina-bench: cold modes run one caller (-c 1)\n");
        return -1;
    }
    if (s->end_to_end && (!s->async || s->mode != BENCH_INVOKE)) {
        fprintf(stderr, "lamina-bench: --end-to-end applies to invoke --async\n");
        return -1;
    }
    if (s->rounds == 0) {
        s->rounds = s->vs_baseline ? 3 : 1;
    }
    if (settle_queue(c) != 0) {
        return -1;
    }
    if (c->payload_text != NULL && c->payload_file != NULL) {
        fprintf(stderr, "lamina-bench: --payload and --payload-file exclude each other\n");
        return -1;
    }
    return 0;
}

/* A JSON object of exactly n bytes ("{}" below 12). */
static char *padded_payload(size_t n)
{
    char *p = malloc(n + 16);
    if (p == NULL) {
        return NULL;
    }
    if (n < 12) {
        strcpy(p, "{}");
        return p;
    }
    size_t pad = n - 10; /* {"pad":""} is 10 bytes */
    memcpy(p, "{\"pad\":\"", 8);
    memset(p + 8, 'x', pad);
    memcpy(p + 8 + pad, "\"}", 3);
    return p;
}

static int load_payload(cli *c)
{
    bench_spec *s = &c->spec;
    if (c->payload_text != NULL) {
        s->payload = c->payload_text;
        s->payload_len = strlen(c->payload_text);
        return 0;
    }
    if (c->payload_file != NULL) {
        void *data = NULL;
        size_t len = 0;
        lm_error e;
        if (lm_read_file(c->payload_file, &data, &len, &e) != 0) {
            fprintf(stderr, "lamina-bench: %s: %s\n", c->payload_file, e.message);
            return -1;
        }
        c->payload_buf = data;
        s->payload = data;
        s->payload_len = len;
        return 0;
    }
    if (s->mode == BENCH_QUEUE || s->mode == BENCH_STREAM || s->mode == BENCH_BUS) {
        /* the body itself is built by queue.c / stream.c / bus.c; the baseline carries as many bytes */
        c->payload_buf = malloc(c->size + 1);
        if (c->payload_buf == NULL) {
            return -1;
        }
        memset(c->payload_buf, 'x', c->size);
        c->payload_buf[c->size] = '\0';
        s->payload = c->payload_buf;
        s->payload_len = c->size;
        return 0;
    }
    c->payload_buf = padded_payload(c->size);
    if (c->payload_buf == NULL) {
        return -1;
    }
    s->payload = c->payload_buf;
    s->payload_len = strlen(c->payload_buf);
    return 0;
}

static int apply_failif(const cli *c, const bench_figures *fig)
{
    char msg[2048];
    if (!c->has_failif) {
        return 0;
    }
    int n = failif_eval(&c->fail, fig, msg, sizeof(msg));
    if (n > 0) {
        fputs(msg, stderr);
        return EXIT_FAILIF;
    }
    return 0;
}

static int run_cli(cli *c)
{
    char err[512];
    cJSON *doc = NULL;
    bench_figures fig;
    int rc = EXIT_RUN;
    if (load_payload(c) != 0) {
        return EXIT_RUN;
    }
    if (bench_execute(&c->spec, &doc, &fig, err, sizeof(err)) != 0) {
        fprintf(stderr, "lamina-bench: %s\n", err);
        goto cleanup;
    }
    if (c->json_path != NULL && report_write(c->json_path, doc, err, sizeof(err)) != 0) {
        fprintf(stderr, "lamina-bench: %s\n", err);
        goto cleanup;
    }
    if (c->plot_path != NULL && plot_write(doc, c->plot_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "lamina-bench: %s\n", err);
        goto cleanup;
    }
    rc = apply_failif(c, &fig);
cleanup:
    cJSON_Delete(doc);
    return rc;
}

static int helper_mode(int argc, char **argv)
{
    if (strcmp(argv[1], "__baseline-echo") == 0) {
        return baseline_echo_main(argc, argv);
    }
    if (strcmp(argv[1], "__baseline-forward") == 0) {
        return baseline_forward_main(argc, argv);
    }
    if (strcmp(argv[1], "__baseline-cold") == 0) {
        return baseline_cold_main(argc, argv);
    }
    if (strcmp(argv[1], "__baseline-template") == 0) {
        return baseline_template_main(argc, argv);
    }
    return -1;
}

/* esm FUNCTION: the mapping bench (esm.c), printed and written to --json. */
static int run_esm(cli *c)
{
    if (c->spec.function == NULL) {
        fprintf(stderr, "lamina-bench: esm needs a function name\n");
        return EXIT_USAGE;
    }
    int batch = c->esm_batch > 0 ? c->esm_batch : 10;
    int records = c->n_given ? (int)c->spec.shape.requests : 2000;
    char err[512];
    cJSON *o = NULL;
    if (esm_bench_run(c->spec.state_dir, c->spec.endpoint, c->spec.function, batch, records,
                      (size_t)c->size, 50, &o, err, sizeof(err)) != 0) {
        fprintf(stderr, "lamina-bench: esm: %s\n", err);
        return EXIT_RUN;
    }
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "send_to_done_us");
    if (!c->spec.quiet) {
        fprintf(stderr,
                "esm %s, batch %d, %d records: %.0f records/s through the mapping, %.0f "
                "directly (%.2fx); send->done p50 %.0f us, p99 %.0f us\n",
                c->spec.function, batch, records,
                cJSON_GetObjectItemCaseSensitive(o, "esm_records_s")->valuedouble,
                cJSON_GetObjectItemCaseSensitive(o, "direct_records_s")->valuedouble,
                cJSON_GetObjectItemCaseSensitive(o, "ratio")->valuedouble,
                cJSON_GetObjectItemCaseSensitive(l, "p50")->valuedouble,
                cJSON_GetObjectItemCaseSensitive(l, "p99")->valuedouble);
    }
    int rc = 0;
    if (c->json_path != NULL && report_write(c->json_path, o, err, sizeof(err)) != 0) {
        fprintf(stderr, "lamina-bench: %s\n", err);
        rc = EXIT_RUN;
    }
    cJSON_Delete(o);
    return rc;
}

int main(int argc, char **argv)
{
    cli c;
    if (argc > 1 && strncmp(argv[1], "__", 2) == 0) {
        int rc = helper_mode(argc, argv);
        return rc >= 0 ? rc : EXIT_USAGE;
    }
    if (argc > 1 && strcmp(argv[1], "plot") == 0) {
        return plot_main(argc - 1, argv + 1);
    }
    memset(&c, 0, sizeof(c));
    c.spec.shape.concurrency = 1;
    c.spec.timeout_ms = 60000;
    c.size = 64;
    if (parse_args(&c, argc, argv) != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (c.plot_path != NULL && (strcmp(c.mode, "standard") == 0 || strcmp(c.mode, "esm") == 0)) {
        fprintf(stderr, "lamina-bench: --plot draws one run; %s has its own report\n", c.mode);
        return EXIT_USAGE;
    }
    if (strcmp(c.mode, "standard") == 0) {
        if (c.handler_dir == NULL) {
            fprintf(stderr, "lamina-bench: standard needs --handlers DIR\n");
            return EXIT_USAGE;
        }
        return standard_run(c.spec.state_dir, c.spec.endpoint, c.handler_dir, c.json_path,
                            c.spec.quiet) == 0
                   ? 0
                   : EXIT_RUN;
    }
    if (strcmp(c.mode, "esm") == 0) {
        return run_esm(&c);
    }
    if (set_mode(&c) != 0 || settle(&c) != 0) {
        return EXIT_USAGE;
    }
    int rc = run_cli(&c);
    free(c.payload_buf);
    return rc;
}
