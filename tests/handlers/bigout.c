/* Test handler: a valid JSON string response of {"bytes": N} bytes in total. */
#include <stdlib.h>
#include <string.h>

#include <lamina/handler.h>

static int big(const lm_request *req, lm_response *res)
{
    const char *p = strstr(lm_request_payload(req, NULL), "\"bytes\"");
    long n = 6291556 + 1000;
    if (p != NULL && (p = strchr(p, ':')) != NULL) {
        n = strtol(p + 1, NULL, 10);
    }
    char *buf = malloc((size_t)n);
    if (buf == NULL || n < 2) {
        free(buf);
        return lm_response_error(res, "NoMemory", "cannot allocate %ld bytes", n);
    }
    memset(buf, 'a', (size_t)n);
    buf[0] = '"';
    buf[n - 1] = '"';
    int rc = lm_response_set(res, buf, (size_t)n);
    free(buf);
    return rc;
}
LM_HANDLER(big);
