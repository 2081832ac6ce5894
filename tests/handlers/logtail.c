/* Test handler: writes about 5 KB of log lines, numbered, through stdout,
 * stderr and lm_log, then returns {"lines": N}. */
#include <stdio.h>

#include <lamina/handler.h>

static int chatty(const lm_request *req, lm_response *res)
{
    int i;
    for (i = 0; i < 100; i++) {
        if (i % 3 == 0) {
            printf("stdout line %03d ..........................\n", i);
        } else if (i % 3 == 1) {
            fprintf(stderr, "stderr line %03d ..........................\n", i);
        } else {
            lm_log(req, "lm_log line %03d", i);
        }
    }
    return lm_response_printf(res, "{\"lines\":%d}", i);
}
LM_HANDLER(chatty);
