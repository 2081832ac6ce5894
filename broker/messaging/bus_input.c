/*
 * broker/messaging/bus_input.c — what a bus target receives: InputPath's
 * JSONPath subset and InputTransformer's template substitution.
 *
 * JSONPath subset: "$" alone, or "$" followed by steps ".KEY" (KEY: one
 * or more characters other than '.', '[', ']' and blanks, so keys like
 * "detail-type" work) and "[N]" (a decimal array index).  No wildcards,
 * filters or quoted keys: EventBridge's documented uses fit in this.
 *
 * Templates.  EventBridge substitutes <name> placeholders textually; we
 * track whether the placeholder stands inside a JSON string of the
 * template (an unescaped '"' toggles it).  Inside a string, a string
 * value goes in raw, JSON-escaped without its quotes (so the template
 * stays valid JSON); any other value goes in as its JSON text, escaped.
 * Outside a string, the value's JSON text goes in (a string with its
 * quotes).  A path that matches nothing gives null outside a string and
 * nothing inside.  <aws.events.rule-arn>, <aws.events.rule-name> and
 * <aws.events.event.json> are predefined as in EventBridge.  A '<' that
 * does not start a known placeholder is copied as it is.
 */
#include <stdlib.h>
#include <string.h>

#include "mq_internal.h"

static bool key_char(char c)
{
    return c != '.' && c != '[' && c != ']' && c != ' ' && c != '\t' && c != '\0';
}

bool mq_jsonpath_ok(const char *p)
{
    if (p == NULL || p[0] != '$' || strlen(p) > MQ_JSONPATH_MAX) {
        return false;
    }
    p++;
    while (*p != '\0') {
        if (*p == '.') {
            size_t n = 0;
            while (key_char(p[1 + n])) {
                n++;
            }
            if (n == 0) {
                return false;
            }
            p += 1 + n;
        } else if (*p == '[') {
            size_t n = 0;
            while (p[1 + n] >= '0' && p[1 + n] <= '9') {
                n++;
            }
            if (n == 0 || n > 9 || p[1 + n] != ']') {
                return false;
            }
            p += 2 + n;
        } else {
            return false;
        }
    }
    return true;
}

const cJSON *mq_jsonpath_get(const cJSON *ev, const char *p)
{
    if (!mq_jsonpath_ok(p)) {
        return NULL;
    }
    const cJSON *cur = ev;
    p++;
    while (*p != '\0' && cur != NULL) {
        if (*p == '.') {
            size_t n = 0;
            while (key_char(p[1 + n])) {
                n++;
            }
            const cJSON *next = NULL;
            for (const cJSON *c = cJSON_IsObject(cur) ? cur->child : NULL; c != NULL; c = c->next) {
                if (c->string != NULL && strlen(c->string) == n &&
                    memcmp(c->string, p + 1, n) == 0) {
                    next = c; /* the last of duplicate keys wins */
                }
            }
            cur = next;
            p += 1 + n;
        } else {
            int k = atoi(p + 1);
            cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, k) : NULL;
            p = strchr(p, ']') + 1;
        }
    }
    return cur;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *q = realloc(b->p, cap);
        if (q == NULL) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* s as the inside of a JSON string (quotes stripped from cJSON's form). */
static void put_escaped(sbuf *b, const char *s)
{
    cJSON *j = cJSON_CreateString(s);
    char *t = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    if (t == NULL) {
        b->oom = true;
    } else {
        put(b, t + 1, strlen(t) - 2);
    }
    free(t);
    cJSON_Delete(j);
}

static void put_value(sbuf *b, const cJSON *v, bool in_string)
{
    if (v == NULL) {
        if (!in_string) {
            put(b, "null", 4);
        }
        return;
    }
    if (in_string && cJSON_IsString(v)) {
        put_escaped(b, v->valuestring);
        return;
    }
    char *t = cJSON_PrintUnformatted(v);
    if (t == NULL) {
        b->oom = true;
        return;
    }
    if (in_string) {
        put_escaped(b, t);
    } else {
        put(b, t, strlen(t));
    }
    free(t);
}

/* The placeholder at s ("<name>"): its length, or 0 when it is not one. */
static size_t placeholder(const char *s, const cJSON *ev, const cJSON *paths, const char *rname,
                          const char *rarn, sbuf *b, bool in_string)
{
    const char *end = strchr(s + 1, '>');
    if (end == NULL || end - s - 1 < 1 || end - s - 1 > 128) {
        return 0;
    }
    char name[129];
    snprintf(name, sizeof(name), "%.*s", (int)(end - s - 1), s + 1);
    cJSON *tmp = NULL;
    const cJSON *v = NULL;
    if (strcmp(name, "aws.events.rule-arn") == 0) {
        v = tmp = cJSON_CreateString(rarn);
    } else if (strcmp(name, "aws.events.rule-name") == 0) {
        v = tmp = cJSON_CreateString(rname);
    } else if (strcmp(name, "aws.events.event.json") == 0) {
        v = ev;
    } else {
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(paths, name);
        if (!cJSON_IsString(path)) {
            return 0;
        }
        v = mq_jsonpath_get(ev, path->valuestring);
    }
    put_value(b, v, in_string);
    cJSON_Delete(tmp);
    return (size_t)(end - s) + 1;
}

char *mq_input_transform(const cJSON *ev, const cJSON *paths, const char *tmpl,
                         const char *rule_name, const char *rule_arn)
{
    sbuf b = {0};
    bool in_string = false;
    put(&b, "", 0);
    for (const char *s = tmpl; *s != '\0';) {
        if (*s == '\\' && in_string && s[1] != '\0') {
            put(&b, s, 2);
            s += 2;
            continue;
        }
        if (*s == '"') {
            in_string = !in_string;
        } else if (*s == '<') {
            size_t n = placeholder(s, ev, paths, rule_name, rule_arn, &b, in_string);
            if (n > 0) {
                s += n;
                continue;
            }
        }
        put(&b, s, 1);
        s++;
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
