/* Test handler: returns non-zero without setting an error. */
#include <lamina/handler.h>

static int nonzero(const lm_request *req, lm_response *res)
{
    (void)req;
    (void)res;
    return 7;
}
LM_HANDLER(nonzero);
