/* Test handler: writes through printf, fprintf(stderr), write(2) and lm_log. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lamina/handler.h>

static int talk(const lm_request *req, lm_response *res)
{
    printf("via-printf\n");
    fprintf(stderr, "via-stderr\n");
    const char *raw = "via-write\n";
    ssize_t w = write(1, raw, strlen(raw));
    (void)w;
    lm_log(req, "via-lm_log");
    return lm_response_printf(res, "{\"ok\":true}");
}
LM_HANDLER(talk);
