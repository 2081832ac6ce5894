/* Test handler: dereferences NULL. */
#include <signal.h>

#include <lamina/handler.h>

static int segv(const lm_request *req, lm_response *res)
{
    (void)req;
    (void)res;
    raise(SIGSEGV); /* a real fault is undefined behaviour the sanitizers would intercept */
    return 0;
}
LM_HANDLER(segv);
