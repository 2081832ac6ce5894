/* Test handler: its init takes 30 s (the broker's init timeout ends it). */
#include <unistd.h>

#include <lamina/handler.h>

static int setup(const lm_env *env)
{
    (void)env;
    sleep(30);
    return 0;
}
LM_INIT(setup);

static int never(const lm_request *req, lm_response *res)
{
    (void)req;
    return lm_response_printf(res, "\"ready\"");
}
LM_HANDLER(never);
