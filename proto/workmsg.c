/*
 * proto/workmsg.c — the broker's reading of a worker's NEXT: the init
 * report a new environment sends first, and the result of an invocation.
 *
 * A worker runs a handler's code, so everything it sends is hostile
 * input.  The readers never fail: a field that is missing or of the wrong
 * type takes its default (init ok, payload null, no log, FunctionError
 * none), and strings are kept as (pointer, length) into the message or
 * copied, cut, into fixed buffers.  Kept here, apart from the broker's
 * state, so that tests/fuzz/fuzz_worker.c drives exactly the code the
 * broker runs (broker/core/pool.c, broker/core/invoke.c).
 */
#include <stdio.h>
#include <string.h>

#include "proto.h"

void proto_read_init(const msgpack_object *init, proto_init_report *r)
{
    const char *type = "Runtime.Unknown", *msg = "";
    size_t tl = strlen(type), ml = 0;
    memset(r, 0, sizeof(*r));
    r->ok = true;
    if (proto_get_bin(init, "log", false, &r->log, &r->log_len, NULL) != LM_OK || r->log == NULL) {
        r->log = NULL;
        r->log_len = 0;
    }
    proto_get_bool(init, "ok", false, &r->ok, NULL);
    if (proto_get_str(init, "type", false, &type, &tl, NULL) != LM_OK) {
        type = "Runtime.Unknown";
        tl = strlen(type);
    }
    if (proto_get_str(init, "message", false, &msg, &ml, NULL) != LM_OK) {
        msg = "";
        ml = 0;
    }
    snprintf(r->type, sizeof(r->type), "%.*s", (int)(tl < sizeof(r->type) ? tl : sizeof(r->type)),
             type);
    snprintf(r->message, sizeof(r->message), "%.*s",
             (int)(ml < sizeof(r->message) ? ml : sizeof(r->message)), msg);
}

void proto_read_result(const msgpack_object *res, proto_result *r)
{
    const char *ferr = NULL;
    size_t fl = 0;
    memset(r, 0, sizeof(*r));
    if (proto_get_str(res, "rid", false, &r->rid, &r->rid_len, NULL) != LM_OK) {
        r->rid = NULL;
        r->rid_len = 0;
    }
    proto_get_str(res, "ferr", false, &ferr, &fl, NULL);
    if (ferr != NULL && fl == 7 && memcmp(ferr, "Handled", 7) == 0) {
        r->ferr = "Handled";
    } else if (ferr != NULL && fl == 9 && memcmp(ferr, "Unhandled", 9) == 0) {
        r->ferr = "Unhandled";
    }
    if (proto_get_bin(res, "payload", false, &r->payload, &r->payload_len, NULL) != LM_OK ||
        r->payload == NULL) {
        r->payload = "null";
        r->payload_len = 4;
    }
    const void *lg = NULL;
    if (proto_get_bin(res, "log", false, &lg, &r->log_len, NULL) != LM_OK || lg == NULL) {
        lg = "";
        r->log_len = 0;
    }
    r->log = lg;
    if (proto_get_double(res, "dur_ms", false, &r->dur_ms, NULL) != LM_OK) {
        r->dur_ms = 0;
    }
    if (proto_get_int(res, "maxrss_mb", false, &r->maxrss_mb, NULL) != LM_OK) {
        r->maxrss_mb = 0;
    }
}
