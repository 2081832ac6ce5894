/* Test handler: exports an entry point but no ABI stamp (not built with LM_HANDLER). */
#include <lamina/handler.h>

LM_EXPORT int lamina_handler(const lm_request *req, lm_response *res);

LM_EXPORT int lamina_handler(const lm_request *req, lm_response *res)
{
    (void)req;
    return lm_response_printf(res, "\"unstamped\"");
}
