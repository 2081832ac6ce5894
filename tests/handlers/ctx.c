/* Test handler: returns what the request tells it about itself. */
#include <lamina/handler.h>

static int ctx(const lm_request *req, lm_response *res)
{
    const char *cc = lm_client_context(req);
    return lm_response_printf(res,
                              "{\"function\":\"%s\",\"version\":\"%s\",\"arn\":\"%s\","
                              "\"request_id\":\"%s\",\"memory\":%u,\"remaining_ms\":%lld,"
                              "\"client_context\":%s}",
                              lm_function_name(req), lm_function_version(req),
                              lm_invoked_function_arn(req), lm_request_id(req),
                              lm_memory_limit_mb(req), (long long)lm_remaining_ms(req),
                              cc != NULL ? cc : "null");
}
LM_HANDLER(ctx);
