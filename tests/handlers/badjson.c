/* Test handler: a response that is not JSON. */
#include <lamina/handler.h>

static int bad(const lm_request *req, lm_response *res)
{
    (void)req;
    return lm_response_set(res, "{not json", 9);
}
LM_HANDLER(bad);
