/* Test handler: its init fails. */
#include <lamina/handler.h>

static int setup(const lm_env *env)
{
    (void)env;
    return 5;
}
LM_INIT(setup);

static int never(const lm_request *req, lm_response *res)
{
    (void)req;
    return lm_response_printf(res, "\"should not run\"");
}
LM_HANDLER(never);
