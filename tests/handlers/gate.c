/* Test handler: holds each invoke until the file named by the event's
 * {"gate": "/path"} exists (the test creates it to release them all), then
 * returns {"pid": P, "inits": I}; I counts this environment's LM_INIT
 * runs, and the handler writes it, so a test can tell an environment was
 * initialised ahead.  Needs a broker run with --unsafe-no-sandbox to see
 * the path (the sandbox hides the test's files). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lamina/handler.h>

static int inits;

static int setup(const lm_env *env)
{
    (void)env;
    inits++;
    return 0;
}
LM_INIT(setup);

static int gate(const lm_request *req, lm_response *res)
{
    const char *ev = lm_request_payload(req, NULL);
    const char *p = strstr(ev, "\"gate\":\"");
    char path[256] = "";
    if (p != NULL) {
        p += 8;
        size_t n = strcspn(p, "\"");
        snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) ? n : sizeof(path) - 1), p);
    }
    struct timespec ms = {0, 1000000L};
    while (path[0] != '\0' && access(path, F_OK) != 0) {
        nanosleep(&ms, NULL);
    }
    return lm_response_printf(res, "{\"pid\":%d,\"inits\":%d}", (int)getpid(), inits);
}
LM_HANDLER(gate);
