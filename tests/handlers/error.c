/* Test handler: reports a handled error. */
#include <lamina/handler.h>

static int fail(const lm_request *req, lm_response *res)
{
    return lm_response_error(res, "OrderRejected", "order %s cannot be filled", lm_request_id(req));
}
LM_HANDLER(fail);
