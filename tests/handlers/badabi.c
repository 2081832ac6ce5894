/* Test handler: stamped with an ABI version this runtime does not support. */
#include <lamina/handler.h>

LM_EXPORT const uint32_t lamina_abi_version = 999;
LM_EXPORT int lamina_handler(const lm_request *req, lm_response *res);

LM_EXPORT int lamina_handler(const lm_request *req, lm_response *res)
{
    (void)req;
    return lm_response_printf(res, "\"future\"");
}
