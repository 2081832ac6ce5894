/* Test handler: abort(). */
#include <stdlib.h>

#include <lamina/handler.h>

static int die(const lm_request *req, lm_response *res)
{
    (void)req;
    (void)res;
    abort();
}
LM_HANDLER(die);
