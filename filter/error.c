/*
 * filter/error.c — the filter engine's error table and filling a
 * filter_error.
 *
 * Codes, names and messages come from one X-macro table in filter.h
 * (FILTER_ERRORS), so they cannot drift apart; codes are never renumbered.
 * Every stage reports through filter_set_err, which returns -1 so that a
 * failure is one `return` statement.
 */
#include "filter_internal.h"

#include <stdarg.h>
#include <stdio.h>

const char *filter_error_name(int code)
{
    switch (code) {
#define FILTER_NAME_(name, num, msg) \
    case num: return #name;
        FILTER_ERRORS(FILTER_NAME_)
#undef FILTER_NAME_
    default: return "FILTER_E_UNKNOWN";
    }
}

const char *filter_strerror(int code)
{
    switch (code) {
#define FILTER_MSG_(name, num, msg) \
    case num: return msg;
        FILTER_ERRORS(FILTER_MSG_)
#undef FILTER_MSG_
    default: return "unknown error";
    }
}

int filter_set_err(filter_error *err, int code, size_t off, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        err->offset = off;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return -1;
}

void filter_clear_err(filter_error *err)
{
    if (err != NULL) {
        err->code = FILTER_OK;
        err->offset = 0;
        err->message[0] = '\0';
    }
}
