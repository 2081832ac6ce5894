/*
 * proto/errors.c — names, statuses, wire types and messages of the one error
 * table (lamina/error.h), and translation from nng errors at the boundary.
 * Messages are always valid UTF-8 text (make_text), whatever they quote.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

typedef struct err_row {
    int code;
    int status;
    const char *name;
    const char *type;
    const char *msg;
} err_row;

static const err_row err_rows[] = {
#define ROW_(name, num, status, type, msg) {num, status, #name, type, msg},
    LM_ERROR_TABLE(ROW_)
#undef ROW_
};

static const err_row *err_find(int code)
{
    for (size_t i = 0; i < sizeof(err_rows) / sizeof(err_rows[0]); i++) {
        if (err_rows[i].code == code) {
            return &err_rows[i];
        }
    }
    return &err_rows[1]; /* LM_E_INTERNAL */
}

const char *proto_err_name(int code)
{
    return err_find(code)->name;
}
const char *proto_err_type(int code)
{
    return err_find(code)->type;
}
int proto_err_status(int code)
{
    return err_find(code)->status;
}
const char *proto_err_message(int code)
{
    return err_find(code)->msg;
}

int proto_err_from_type(const char *type)
{
    for (size_t i = 0; i < sizeof(err_rows) / sizeof(err_rows[0]); i++) {
        if (strcmp(err_rows[i].type, type) == 0) {
            return err_rows[i].code;
        }
    }
    return LM_E_INTERNAL;
}

/* Make s valid text in place: a message may quote a client's bytes or be
 * cut by its buffer in the middle of a character, and an error reply's
 * strings must pass the same text check as any other (text.c).  Each bad
 * byte becomes '?'. */
static void make_text(char *s)
{
    size_t n = strlen(s), at = 0;
    while (!proto_utf8_ok(s, n, false, &at, NULL)) {
        s[at] = '?';
    }
}

int proto_error(lm_error *e, int code, const char *fmt, ...)
{
    if (e == NULL) {
        return code;
    }
    const err_row *r = err_find(code);
    e->code = code;
    e->status = r->status;
    snprintf(e->type, sizeof(e->type), "%s", r->type);
    if (fmt == NULL) {
        snprintf(e->message, sizeof(e->message), "%s", r->msg);
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
        make_text(e->message);
    }
    return code;
}

int proto_err_from_nng(int rv)
{
    switch (rv) {
    case 0: return LM_OK;
    case NNG_ENOMEM: return LM_E_NOMEM;
    case NNG_ETIMEDOUT: return LM_E_TIMEOUT;
    case NNG_ECONNREFUSED:
    case NNG_ENOENT:
    case NNG_ECLOSED:
    case NNG_ECONNSHUT:
    case NNG_ECONNRESET:
    case NNG_EADDRINVAL: return LM_E_UNREACHABLE;
    case NNG_EMSGSIZE: return LM_E_TOO_LARGE;
    default: return LM_E_INTERNAL;
    }
}
