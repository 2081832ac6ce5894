/* The sample handler: greets the "name" field of its event, logs a line. */
#include <stdio.h>
#include <string.h>

#include <lamina/handler.h>

static int hello(const lm_request *req, lm_response *res)
{
    size_t n = 0;
    const char *event = lm_request_payload(req, &n);
    const char *name = "world";
    char buf[64];
    const char *p = strstr(event, "\"name\"");
    if (p != NULL && sscanf(p, "\"name\" : \"%63[^\"]\"", buf) == 1) {
        name = buf;
    } else if (p != NULL && sscanf(p, "\"name\":\"%63[^\"]\"", buf) == 1) {
        name = buf;
    }
    lm_log(req, "saying hello to %s (%zu byte event)", name, n);
    return lm_response_printf(res, "{\"greeting\":\"Hello, %s!\",\"function\":\"%s\"}", name,
                              lm_function_name(req));
}
LM_HANDLER(hello);
