/* Test handler: sleeps {"ms": N} milliseconds, then returns {"slept": N}. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lamina/handler.h>

static int nap(const lm_request *req, lm_response *res)
{
    const char *p = strstr(lm_request_payload(req, NULL), "\"ms\"");
    long ms = 0;
    if (p != NULL) {
        p = strchr(p, ':');
        ms = p != NULL ? strtol(p + 1, NULL, 10) : 0;
    }
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return lm_response_printf(res, "{\"slept\":%ld}", ms);
}
LM_HANDLER(nap);
