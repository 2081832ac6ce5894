/* Test handler: writes its event to the log as one line, "EVENT <json>",
 * so tests can see what an async invoke or a destination delivered (the
 * sandbox lets handlers write nowhere else).  An event that begins with
 * {"fail":true ends in a handled error (an invocation record quoting such an
 * event does not); otherwise it answers {"ok":true}. */
#include <string.h>

#include <lamina/handler.h>

static int record(const lm_request *req, lm_response *res)
{
    size_t n = 0;
    const char *ev = lm_request_payload(req, &n);
    lm_log(req, "EVENT %.*s", (int)n, ev);
    if (n >= 12 && strncmp(ev, "{\"fail\":true", 12) == 0) {
        return lm_response_error(res, "AsyncFailure", "failing as asked");
    }
    return lm_response_printf(res, "{\"ok\":true}");
}
LM_HANDLER(record);
