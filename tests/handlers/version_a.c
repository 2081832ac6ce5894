/* Test handler: returns {"build":"a"}, so a test can tell which code ran. */
#include <lamina/handler.h>

static int version_a(const lm_request *req, lm_response *res)
{
    (void)req;
    return lm_response_printf(res, "{\"build\":\"a\"}");
}
LM_HANDLER(version_a);
