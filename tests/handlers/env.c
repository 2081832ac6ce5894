/* Test handler: returns {"value": getenv(<event's "name">)} or null. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lamina/handler.h>

static int env(const lm_request *req, lm_response *res)
{
    char name[128] = "";
    const char *p = strstr(lm_request_payload(req, NULL), "\"name\"");
    if (p == NULL || sscanf(p, "\"name\":\"%127[^\"]\"", name) != 1) {
        return lm_response_error(res, "BadEvent", "expected {\"name\":\"VAR\"}");
    }
    const char *v = getenv(name);
    if (v == NULL) {
        return lm_response_printf(res, "{\"value\":null}");
    }
    return lm_response_printf(res, "{\"value\":\"%s\"}", v);
}
LM_HANDLER(env);
