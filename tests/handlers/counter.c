/* Test handler: counts invocations of this execution environment and
 * reports its pid, so tests can see warm reuse and separate environments.
 * An optional {"ms": N} makes it sleep first. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lamina/handler.h>

static int count;
static int inits;

static int setup(const lm_env *env)
{
    (void)env;
    inits++;
    return 0;
}
LM_INIT(setup);

static int counter(const lm_request *req, lm_response *res)
{
    size_t n = 0;
    const char *ev = lm_request_payload(req, &n);
    const char *p = strstr(ev, "\"ms\"");
    long ms = p != NULL && (p = strchr(p, ':')) != NULL ? strtol(p + 1, NULL, 10) : 0;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0) {
    }
    count++;
    return lm_response_printf(res, "{\"count\":%d,\"inits\":%d,\"pid\":%d,\"event\":%.*s}", count,
                              inits, (int)getpid(), (int)n, ev);
}
LM_HANDLER(counter);
