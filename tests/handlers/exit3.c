/* Test handler: exit(3) in the middle of an invocation. */
#include <stdlib.h>

#include <lamina/handler.h>

static int quit(const lm_request *req, lm_response *res)
{
    (void)req;
    (void)res;
    exit(3);
}
LM_HANDLER(quit);
