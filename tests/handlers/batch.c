/* Test handler for event source mappings: logs what each batch held and
 * answers as the function's MODE environment variable says, so tests see
 * every record the broker delivered, in order, and drive each outcome.
 *
 * Log lines: "REC <data>" per record in the event's order, then
 * "BATCH n=N" once per batch, where <data> is an SQS record's body or a Kinesis
 * record's data, base64-decoded.  (One lm_log per line: the log keeps
 * their order.)
 *
 * MODE: unset or "ok" answers {}; "fail" ends every batch in an error;
 * "failbad" fails a batch in which any record's data holds "bad"; "bif"
 * answers {"batchItemFailures":[{"itemIdentifier":ID}…]} with the
 * messageId / sequenceNumber of each record whose data holds "bad";
 * "raw:TEXT" answers TEXT itself (malformed responses); "sleep:MS" logs
 * "START <ms>" and "END <ms>" (CLOCK_MONOTONIC) around a sleep of MS;
 * "slow:MS" sleeps MS before it logs anything, so a run cut short (the
 * broker killed) leaves no line: what is logged was processed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lamina/handler.h>

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static size_t unb64(const char *s, size_t n, char *out)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0) {
            continue;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return o;
}

/* The string value after "key":" from p, into out (cap); the end of it. */
static const char *value(const char *p, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *s = strstr(p, pat);
    if (s == NULL) {
        return NULL;
    }
    s += strlen(pat);
    const char *e = s;
    while (*e != '\0' && !(*e == '"' && e[-1] != '\\')) {
        e++;
    }
    size_t n = (size_t)(e - s) < cap - 1 ? (size_t)(e - s) : cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    return e;
}

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int batch(const lm_request *req, lm_response *res)
{
    const char *ev = lm_request_payload(req, NULL);
    const char *mode = getenv("MODE");
    mode = mode != NULL ? mode : "ok";
    bool kinesis = strstr(ev, "\"aws:kinesis\"") != NULL;
    if (strncmp(mode, "slow:", 5) == 0) {
        long ms = strtol(mode + 5, NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    static char data[1100000], dec[1100000], id[128];
    static char fails[65536];
    size_t fl = (size_t)snprintf(fails, sizeof(fails), "{\"batchItemFailures\":[");
    int n = 0, nf = 0;
    bool bad = false;
    for (const char *p = ev; p != NULL && *p != '\0'; n++) {
        const char *q = value(p, kinesis ? "sequenceNumber" : "messageId", id, sizeof(id));
        q = q != NULL ? value(q, kinesis ? "data" : "body", data, sizeof(data)) : NULL;
        if (q == NULL) {
            break;
        }
        if (kinesis) {
            unb64(data, strlen(data), dec);
        } else {
            snprintf(dec, sizeof(dec), "%s", data);
        }
        lm_log(req, "REC %.64s", dec);
        if (strstr(dec, "bad") != NULL) {
            bad = true;
            if (fl < sizeof(fails) - 200) {
                fl += (size_t)snprintf(fails + fl, sizeof(fails) - fl,
                                       "%s{\"itemIdentifier\":\"%s\"}", nf++ > 0 ? "," : "", id);
            }
        }
        p = q;
    }
    lm_log(req, "BATCH n=%d", n);
    if (strcmp(mode, "fail") == 0 || (strcmp(mode, "failbad") == 0 && bad)) {
        return lm_response_error(res, "BatchFailed", "failing as MODE says");
    }
    if (strcmp(mode, "bif") == 0) {
        snprintf(fails + fl, sizeof(fails) - fl, "]}");
        return lm_response_printf(res, "%s", fails);
    }
    if (strncmp(mode, "raw:", 4) == 0) {
        return lm_response_set(res, mode + 4, strlen(mode + 4));
    }
    if (strncmp(mode, "sleep:", 6) == 0) {
        long ms = strtol(mode + 6, NULL, 10);
        lm_log(req, "START %ld", mono_ms());
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
        lm_log(req, "END %ld", mono_ms());
    }
    return lm_response_printf(res, "{}");
}
LM_HANDLER(batch);
