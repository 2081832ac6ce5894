/* Test handler: returns success without a response (the caller gets null). */
#include <lamina/handler.h>

static int nothing(const lm_request *req, lm_response *res)
{
    (void)req;
    (void)res;
    return 0;
}
LM_HANDLER(nothing);
