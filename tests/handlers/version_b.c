/* Test handler: returns {"build":"b"}, so a test can tell which code ran. */
#include <lamina/handler.h>

static int version_b(const lm_request *req, lm_response *res)
{
    (void)req;
    return lm_response_printf(res, "{\"build\":\"b\"}");
}
LM_HANDLER(version_b);
