/* Test handler: returns its event unchanged. */
#include <lamina/handler.h>

static int echo(const lm_request *req, lm_response *res)
{
    size_t n = 0;
    const char *p = lm_request_payload(req, &n);
    return lm_response_set(res, p, n);
}
LM_HANDLER(echo);
