/*
 * tests/fuzz/reqtext.h — the request text fuzz_urlmap and fuzz_sigv4 read:
 * lines METHOD, PATH, QUERY, then "name: value" header lines up to an
 * empty line, then the body.  Parsed in place (buf is changed; n bytes, a
 * NUL after them); missing lines stay "GET", "/", "".
 */
#ifndef TESTS_FUZZ_REQTEXT_H
#define TESTS_FUZZ_REQTEXT_H

#include <stddef.h>
#include <string.h>

#include "lib/urlmap.h"

typedef struct reqtext {
    char *lines[3]; /* method, path, query */
    urlmap_header h[32];
    size_t nh;
    char *body; /* NULL when the text ends before it */
    size_t body_len;
} reqtext;

static inline void reqtext_parse(char *buf, size_t n, reqtext *q)
{
    q->lines[0] = "GET";
    q->lines[1] = "/";
    q->lines[2] = "";
    q->nh = 0;
    char *p = buf;
    for (int i = 0; i < 3 && p != NULL; i++) {
        char *nl = memchr(p, '\n', (size_t)(buf + n - p));
        if (nl != NULL) {
            *nl = '\0';
        }
        q->lines[i] = p;
        p = nl != NULL ? nl + 1 : NULL;
    }
    while (p != NULL && q->nh < 32) {
        char *nl = memchr(p, '\n', (size_t)(buf + n - p));
        if (nl == NULL || nl == p) {
            p = nl != NULL ? nl + 1 : NULL;
            break;
        }
        *nl = '\0';
        char *colon = strchr(p, ':');
        if (colon != NULL) {
            *colon = '\0';
            q->h[q->nh++] = (urlmap_header){.name = p, .value = colon + 1};
        }
        p = nl + 1;
    }
    q->body = p;
    q->body_len = p != NULL ? (size_t)(buf + n - p) : 0;
}

#endif
