/*
 * tools/cli/test_pattern.c — `lamina test-pattern`: EventBridge's
 * TestEventPattern, offline.  Compiles a pattern with the filter engine
 * (the filter/ library, which the broker links too) and matches one event,
 * or checks a file of {"pattern": …, "event": …} lines.  Needs no running
 * broker.
 *
 * Exit codes: 0 every result printed; 2 usage error, unreadable file or an
 * invalid event in single mode; 9 a pattern failed to compile (single mode:
 * message on err; --jsonl: at least one line printed "error: …").
 */
#include "test_pattern.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "filter.h"

enum { EXIT_OK = 0, EXIT_USAGE = 2, EXIT_PATTERN = 9 };

static void usage(FILE *f)
{
    fputs("usage: lamina test-pattern PATTERN EVENT\n"
          "       lamina test-pattern --jsonl FILE\n"
          "\n"
          "Prints true or false: does EVENT match the EventBridge-style PATTERN?\n"
          "PATTERN and EVENT are JSON text, or @PATH to read a file.\n"
          "With --jsonl, FILE (or - for stdin) holds one {\"pattern\": P, \"event\": E}\n"
          "object per line (P may be an object or a string holding one); one result\n"
          "is printed per line: true, false or error: MESSAGE.\n"
          "\n"
          "Exit codes: 0 ok, 2 usage or bad event, 9 pattern error.\n"
          "\n"
          "Example:\n"
          "  lamina test-pattern "
          "'{\"source\":[\"shop\"],\"detail\":{\"total\":[{\"numeric\":[\">\",100]}]}}' \\\n"
          "                      '{\"source\":\"shop\",\"detail\":{\"total\":250}}'\n"
          "  true\n",
          f);
}

/* Read a whole stream; caller frees.  NULL on error. */
static char *read_stream(FILE *in, size_t *len)
{
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap), *nb;

    while (buf != NULL && (r = fread(buf + n, 1, cap - n, in)) > 0) {
        n += r;
        if (n == cap) {
            if (cap > 2 * (size_t)FILTER_MAX_EVENT_BYTES) {
                break; /* the engine will report the size */
            }
            nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf != NULL && ferror(in)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* An argument's text: itself, or the contents of the file after '@'. */
static char *arg_text(const char *arg, size_t *len, FILE *err)
{
    FILE *f;
    char *t;

    if (arg[0] != '@') {
        *len = strlen(arg);
        return strdup(arg);
    }
    f = fopen(arg + 1, "rb");
    if (f == NULL) {
        fprintf(err, "test-pattern: cannot open %s\n", arg + 1);
        return NULL;
    }
    t = read_stream(f, len);
    fclose(f);
    if (t == NULL) {
        fprintf(err, "test-pattern: cannot read %s\n", arg + 1);
    }
    return t;
}

static int single(const char *parg, const char *earg, FILE *out, FILE *err)
{
    size_t plen = 0, elen = 0;
    char *p = arg_text(parg, &plen, err), *e = p != NULL ? arg_text(earg, &elen, err) : NULL;
    filter_error fe;
    filter *f = NULL;
    int rc = EXIT_USAGE, m;

    if (p == NULL || e == NULL) {
        goto out;
    }
    f = filter_compile(p, plen, &fe);
    if (f == NULL) {
        fprintf(err, "test-pattern: %s: %s\n", filter_error_name(fe.code), fe.message);
        rc = EXIT_PATTERN;
        goto out;
    }
    m = filter_match(f, e, elen, &fe);
    if (m < 0) {
        fprintf(err, "test-pattern: %s: %s\n", filter_error_name(fe.code), fe.message);
        goto out;
    }
    fputs(m ? "true\n" : "false\n", out);
    rc = EXIT_OK;
out:
    filter_destroy(f);
    free(p);
    free(e);
    return rc;
}

/* One --jsonl line: prints its result; returns true on a pattern error. */
static bool jsonl_line(const char *line, size_t len, FILE *out)
{
    size_t po, pl, eo, el;
    cJSON *str = NULL;
    const char *ptext;
    filter_error fe;
    filter *f;
    int m;

    if (filter_json_member(line, len, "pattern", &po, &pl) < 0 ||
        filter_json_member(line, len, "event", &eo, &el) < 0) {
        fputs("error: line must be a JSON object with \"pattern\" and \"event\"\n", out);
        return false;
    }
    ptext = line + po;
    if (line[po] == '"') {
        str = cJSON_ParseWithLength(line + po, pl);
        ptext = cJSON_GetStringValue(str);
        pl = ptext != NULL ? strlen(ptext) : 0;
    }
    f = ptext != NULL ? filter_compile(ptext, pl, &fe) : NULL;
    cJSON_Delete(str);
    if (f == NULL) {
        fprintf(out, "error: %s\n", ptext != NULL ? fe.message : "out of memory");
        return true;
    }
    m = filter_match(f, line + eo, el, &fe);
    filter_destroy(f);
    if (m < 0) {
        fprintf(out, "error: %s\n", fe.message);
    } else {
        fputs(m ? "true\n" : "false\n", out);
    }
    return false;
}

static int jsonl(const char *path, FILE *out, FILE *err)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool bad = false;

    if (in == NULL) {
        fprintf(err, "test-pattern: cannot open %s\n", path);
        return EXIT_USAGE;
    }
    while ((n = getline(&line, &cap, in)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            n--;
        }
        if (n == 0) {
            continue;
        }
        bad |= jsonl_line(line, (size_t)n, out);
    }
    free(line);
    if (in != stdin) {
        fclose(in);
    }
    fflush(out);
    return bad ? EXIT_PATTERN : EXIT_OK;
}

int cli_test_pattern(int argc, char **argv, FILE *out, FILE *err)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(out);
        return EXIT_OK;
    }
    if (argc == 3 && strcmp(argv[1], "--jsonl") == 0) {
        return jsonl(argv[2], out, err);
    }
    if (argc == 3 && strncmp(argv[1], "--", 2) != 0) {
        return single(argv[1], argv[2], out, err);
    }
    usage(err);
    return EXIT_USAGE;
}
