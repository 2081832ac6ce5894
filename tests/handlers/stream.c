/* Test handler for streamed responses (lm_response_write): what it writes
 * is chosen by the event's "body" (a function URL's request body, or the
 * api invoke's {"body": …}):
 *   "gate"    prelude (201, content-type text/plain, x-stream, a cookie),
 *             "pid=P tid=T\n", then waits up to 20 s for SIGUSR1 sent to
 *             its thread (the test sends it once it has read that piece),
 *             then "after\n";
 *   "leave"   "pid=P tid=T\n", waits for SIGUSR1 as "gate" does, then
 *             writes 64 KiB pieces until one fails and remembers how many
 *             went and what the failing write returned, for "report";
 *   "report"  {"pid":P,"rc":RC,"written":N} set whole (the last "leave");
 *   "big:N"   N bytes of 'x' in 64 KiB writes, stopping at a failure;
 *   "error"   "partial\n", then a handled error (StreamFailure);
 *   "crash"   "partial\n", then abort();
 *   "pieces"  "a", "b", "c" with no prelude;
 *   "prelude" a prelude (202, x-empty) and no body;
 *   "badprelude" a prelude that is not an object, then "x";
 *   anything else: {"whole":true} set with lm_response_set (no pieces).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <lamina/handler.h>

#define PIECE 65536

static int last_rc = 1;
static long last_written = -1;

/* Block SIGUSR1 on this thread (before the piece that tells the test our
 * ids, so it cannot come too early), write that piece, wait for it. */
static int hello_then_wait(lm_response *res)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    char line[64];
    int n =
        snprintf(line, sizeof(line), "pid=%d tid=%ld\n", (int)getpid(), (long)syscall(SYS_gettid));
    int rc = lm_response_write(res, line, (size_t)n);
    if (rc != 0) {
        return rc;
    }
    struct timespec ts = {20, 0};
    return sigtimedwait(&set, NULL, &ts) == SIGUSR1 ? 0 : -100;
}

static int write_x(lm_response *res, long total)
{
    static char piece[PIECE];
    memset(piece, 'x', sizeof(piece));
    long done = 0;
    while (done < total) {
        size_t n = total - done < PIECE ? (size_t)(total - done) : PIECE;
        int rc = lm_response_write(res, piece, n);
        if (rc != 0) {
            return rc;
        }
        done += (long)n;
    }
    return 0;
}

static int stream(const lm_request *req, lm_response *res)
{
    size_t n = 0;
    const char *p = lm_request_payload(req, &n);
    cJSON *ev = cJSON_ParseWithLength(p, n);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(ev, "body");
    char what[64];
    snprintf(what, sizeof(what), "%s", cJSON_IsString(b) ? b->valuestring : "");
    cJSON_Delete(ev);
    if (strcmp(what, "gate") == 0) {
        lm_response_stream_start(res, "{\"statusCode\":201,\"headers\":{\"content-type\":"
                                      "\"text/plain\",\"x-stream\":\"yes\"},"
                                      "\"cookies\":[\"s=1; Max-Age=60\"]}");
        int rc = hello_then_wait(res);
        return rc != 0 ? lm_response_error(res, "GateFailure", "gate: %d", rc)
                       : lm_response_write(res, "after\n", 6);
    }
    if (strcmp(what, "leave") == 0) {
        int rc = hello_then_wait(res);
        long written = 0;
        while (rc == 0 && written < 32L * 1024 * 1024) {
            static char piece[PIECE];
            rc = lm_response_write(res, piece, sizeof(piece));
            written += rc == 0 ? PIECE : 0;
        }
        last_rc = rc;
        last_written = written;
        lm_log(req, "leave: write returned %d after %ld bytes", rc, written);
        return 0;
    }
    if (strcmp(what, "report") == 0) {
        return lm_response_printf(res, "{\"pid\":%d,\"rc\":%d,\"written\":%ld}", (int)getpid(),
                                  last_rc, last_written);
    }
    if (strncmp(what, "big:", 4) == 0) {
        int rc = write_x(res, strtol(what + 4, NULL, 10));
        lm_log(req, "big: write returned %d", rc);
        return 0;
    }
    if (strcmp(what, "error") == 0 || strcmp(what, "crash") == 0) {
        lm_response_write(res, "partial\n", 8);
        if (what[0] == 'c') {
            abort();
        }
        return lm_response_error(res, "StreamFailure", "broke mid-stream");
    }
    if (strcmp(what, "pieces") == 0) {
        lm_response_write(res, "a", 1);
        lm_response_write(res, "b", 1);
        return lm_response_write(res, "c", 1);
    }
    if (strcmp(what, "prelude") == 0) {
        return lm_response_stream_start(res,
                                        "{\"statusCode\":202,\"headers\":{\"x-empty\":\"1\"}}");
    }
    if (strcmp(what, "badprelude") == 0) {
        lm_response_stream_start(res, "[1,2]");
        return lm_response_write(res, "x", 1) == LM_STREAM_CLOSED ? 0 : 7;
    }
    return lm_response_set(res, "{\"whole\":true}", 14);
}
LM_HANDLER(stream);
