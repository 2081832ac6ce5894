/*
 * broker/messaging/attrs.c — message attributes: the check of untrusted
 * input, SQS's MD5OfMessageAttributes, the stored form and the shapes the
 * other formats want (SNS notification, SQS raw delivery, filter
 * documents, Lambda's SQS record).
 *
 * Input is SQS's and SNS's MessageAttributes map as JSON:
 *   {"NAME": {"DataType": "String", "StringValue": "…"},
 *    "NAME": {"DataType": "Binary", "BinaryValue": "<base64>"}, …}
 * Rules (SQS's, and SNS's where it differs):
 *   - at most 10 attributes; names 1-256 of [A-Za-z0-9_.-], not starting
 *     or ending with '.', no "..", not starting with "AWS." or "Amazon."
 *     (any case); no name twice;
 *   - DataType String, Number or Binary, for SQS optionally followed by
 *     ".label" ([A-Za-z0-9_.-]+, whole type at most 256); SNS: String,
 *     String.Array, Number, Binary exactly;
 *   - String and Number take a non-empty StringValue (SQS: of SQS's
 *     allowed characters; SNS: UTF-8); a Number is a decimal number of at
 *     most 38 significant digits within 1e-128 … 1e126 in magnitude; an
 *     SNS String.Array is a JSON array of strings, numbers, booleans and
 *     nulls; Binary takes a BinaryValue of base64 decoding to 1+ bytes;
 *     no other member.
 * MD5OfMessageAttributes, as SQS documents it: for each attribute in
 * ascending byte order of names, the 4-byte big-endian length and bytes
 * of the name, of the DataType, one transport byte (1 string, 2 binary),
 * then the length and bytes of the value (binary: decoded); MD5 of it all.
 * The stored form is the same map, sorted, binary values re-encoded.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/md5.h>

#include "proto.h"

#include "mq_internal.h"

typedef struct attr_item {
    const char *name;
    const char *type;
    bool binary;
    const char *value; /* string value, or decoded bytes (owned) */
    size_t value_len;
    unsigned char *owned;
} attr_item;

static bool attr_name_ok(const char *s, size_t n)
{
    if (n < 1 || n > MQ_ATTR_NAME_MAX || s[0] == '.' || s[n - 1] == '.') {
        return false;
    }
    if ((n >= 4 && strncasecmp(s, "AWS.", 4) == 0) ||
        (n >= 7 && strncasecmp(s, "Amazon.", 7) == 0)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok || (c == '.' && i + 1 < n && s[i + 1] == '.')) {
            return false;
        }
    }
    return true;
}

/* The base type of an SQS DataType (0 String, 1 Number, 2 Binary) or -1. */
static int sqs_type(const char *t, bool sns)
{
    static const char *const base[] = {"String", "Number", "Binary"};
    size_t n = strlen(t);
    if (n > MQ_ATTR_TYPE_MAX) {
        return -1;
    }
    if (sns) {
        if (strcmp(t, "String.Array") == 0) {
            return 0;
        }
        for (int i = 0; i < 3; i++) {
            if (strcmp(t, base[i]) == 0) {
                return i;
            }
        }
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        size_t bl = strlen(base[i]);
        if (strncmp(t, base[i], bl) != 0) {
            continue;
        }
        if (t[bl] == '\0') {
            return i;
        }
        if (t[bl] != '.' || t[bl + 1] == '\0') {
            return -1;
        }
        for (const char *p = t + bl + 1; *p; p++) {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.')) {
                return -1;
            }
        }
        return i;
    }
    return -1;
}

/* [+-]digits[.digits][e[+-]digits] with 1-38 significant digits, in range. */
static bool number_ok(const char *s)
{
    const char *p = s;
    size_t sig = 0, digits = 0;
    bool lead = true;
    if (*p == '+' || *p == '-') {
        p++;
    }
    for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.') {
            if (p[1] == '.' || strchr(p + 1, '.') != NULL) {
                return false;
            }
            continue;
        }
        digits++;
        if (*p != '0' || !lead) {
            lead = false;
            sig++;
        }
    }
    if (digits == 0 || sig > 38) {
        return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (!(*p >= '0' && *p <= '9')) {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (*p != '\0') {
        return false;
    }
    double v = strtod(s, NULL);
    double a = fabs(v);
    return isfinite(v) && a <= 1e126 && (a == 0 || a >= 1e-128);
}

/* A JSON array of scalars (SNS String.Array). */
static bool string_array_ok(const char *s)
{
    cJSON *j = mq_json_parse(s, strlen(s), LM_E_SNS_INVALID_PARAMETER, "String.Array", NULL);
    bool ok = cJSON_IsArray(j);
    for (const cJSON *c = ok ? j->child : NULL; c != NULL; c = c->next) {
        if (cJSON_IsArray(c) || cJSON_IsObject(c)) {
            ok = false;
        }
    }
    cJSON_Delete(j);
    return ok;
}

static void items_free(attr_item *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(it[i].owned);
    }
}

/* Check one attribute into *it. */
static int check_one(const cJSON *a, bool sns, attr_item *it, lm_error *e)
{
    int code = sns ? LM_E_SNS_INVALID_PARAMETER : LM_E_MQ_INVALID_PARAMETER;
    char qb[80];
    const char *nm = mq_q(qb, sizeof(qb), a->string);
    if (!cJSON_IsObject(a)) {
        return proto_error(e, code, "message attribute %s must be an object", nm);
    }
    const cJSON *dt = NULL, *sv = NULL, *bv = NULL;
    for (const cJSON *c = a->child; c != NULL; c = c->next) {
        const cJSON **slot = strcmp(c->string, "DataType") == 0      ? &dt
                             : strcmp(c->string, "StringValue") == 0 ? &sv
                             : strcmp(c->string, "BinaryValue") == 0 ? &bv
                                                                     : NULL;
        if (slot == NULL || *slot != NULL || !cJSON_IsString(c)) {
            return proto_error(e, code,
                               "message attribute %s: unknown, repeated or non-string member", nm);
        }
        *slot = c;
    }
    int t = dt != NULL ? sqs_type(dt->valuestring, sns) : -1;
    if (t < 0) {
        return proto_error(e, code, "message attribute %s: DataType must be %s", nm,
                           sns ? "String, String.Array, Number or Binary"
                               : "String, Number or Binary (optionally .label)");
    }
    it->name = a->string;
    it->type = dt->valuestring;
    it->binary = t == 2;
    if (t == 2) {
        size_t n = 0;
        if (bv == NULL || sv != NULL ||
            mq_unbase64(bv->valuestring, strlen(bv->valuestring), &it->owned, &n) != 0 || n == 0) {
            if (n == SIZE_MAX) {
                return proto_error(e, LM_E_NOMEM, NULL);
            }
            return proto_error(e, code,
                               "message attribute %s: a Binary takes a non-empty base64 "
                               "BinaryValue",
                               nm);
        }
        it->value = (const char *)it->owned;
        it->value_len = n;
        return LM_OK;
    }
    if (sv == NULL || bv != NULL || sv->valuestring[0] == '\0') {
        return proto_error(e, code, "message attribute %s must contain a non-empty StringValue",
                           nm);
    }
    it->value = sv->valuestring;
    it->value_len = strlen(sv->valuestring);
    if (sns ? !proto_text_ok(it->value, it->value_len, NULL, NULL)
            : !mq_sqs_text_ok(it->value, it->value_len, NULL)) {
        return proto_error(e, code, "message attribute %s holds characters outside the allowed set",
                           nm);
    }
    if (t == 1 && !number_ok(it->value)) {
        return proto_error(e, code, "message attribute %s is not a valid Number", nm);
    }
    if (sns && strcmp(it->type, "String.Array") == 0 && !string_array_ok(it->value)) {
        return proto_error(e, code,
                           "message attribute %s: a String.Array is a JSON array of strings, "
                           "numbers, booleans and nulls",
                           nm);
    }
    return LM_OK;
}

static int item_cmp(const void *a, const void *b)
{
    return strcmp(((const attr_item *)a)->name, ((const attr_item *)b)->name);
}

static void md5_len(mbedtls_md5_context *c, size_t n)
{
    unsigned char b[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    mbedtls_md5_update_ret(c, b, 4);
}

static void items_md5(const attr_item *it, size_t n, char out[33])
{
    static const char hx[] = "0123456789abcdef";
    mbedtls_md5_context c;
    unsigned char d[16];
    mbedtls_md5_init(&c);
    mbedtls_md5_starts_ret(&c);
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(it[i].name), tl = strlen(it[i].type);
        unsigned char transport = it[i].binary ? 2 : 1;
        md5_len(&c, nl);
        mbedtls_md5_update_ret(&c, (const unsigned char *)it[i].name, nl);
        md5_len(&c, tl);
        mbedtls_md5_update_ret(&c, (const unsigned char *)it[i].type, tl);
        mbedtls_md5_update_ret(&c, &transport, 1);
        md5_len(&c, it[i].value_len);
        mbedtls_md5_update_ret(&c, (const unsigned char *)it[i].value, it[i].value_len);
    }
    mbedtls_md5_finish_ret(&c, d);
    mbedtls_md5_free(&c);
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[32] = '\0';
}

/* Check attrs into it[] (sorted by name); *n items. */
static int check_all(const cJSON *attrs, bool sns, attr_item it[MQ_MSG_ATTRS_MAX], size_t *n,
                     lm_error *e)
{
    int code = sns ? LM_E_SNS_INVALID_PARAMETER : LM_E_MQ_INVALID_PARAMETER;
    char qb[80];
    *n = 0;
    if (attrs == NULL) {
        return LM_OK;
    }
    if (!cJSON_IsObject(attrs)) {
        return proto_error(e, code, "MessageAttributes must be an object");
    }
    for (const cJSON *a = attrs->child; a != NULL; a = a->next) {
        if (*n == MQ_MSG_ATTRS_MAX) {
            items_free(it, *n);
            return proto_error(e, code, "a message takes at most %d message attributes",
                               MQ_MSG_ATTRS_MAX);
        }
        if (!attr_name_ok(a->string, strlen(a->string))) {
            items_free(it, *n);
            return proto_error(e, code, "invalid message attribute name %s",
                               mq_q(qb, sizeof(qb), a->string));
        }
        for (size_t k = 0; k < *n; k++) {
            if (strcmp(it[k].name, a->string) == 0) {
                items_free(it, *n);
                return proto_error(e, code, "message attribute %s given twice",
                                   mq_q(qb, sizeof(qb), a->string));
            }
        }
        memset(&it[*n], 0, sizeof(it[*n]));
        int rc = check_one(a, sns, &it[*n], e);
        if (rc != LM_OK) {
            free(it[*n].owned);
            items_free(it, *n);
            return rc;
        }
        (*n)++;
    }
    qsort(it, *n, sizeof(it[0]), item_cmp);
    return LM_OK;
}

int mq_attributes_check(const cJSON *attrs, bool sns, char md5[33], size_t *bytes, lm_error *e)
{
    attr_item it[MQ_MSG_ATTRS_MAX];
    size_t n = 0;
    if (md5 != NULL) {
        md5[0] = '\0';
    }
    if (bytes != NULL) {
        *bytes = 0;
    }
    int rc = check_all(attrs, sns, it, &n, e);
    if (rc != LM_OK) {
        return rc;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += strlen(it[i].name) + strlen(it[i].type) + it[i].value_len;
    }
    if (n > 0 && md5 != NULL) {
        items_md5(it, n, md5);
    }
    if (bytes != NULL) {
        *bytes = total;
    }
    items_free(it, n);
    return LM_OK;
}

char *mq_attributes_store(const cJSON *attrs, bool *oom)
{
    attr_item it[MQ_MSG_ATTRS_MAX];
    size_t n = 0;
    *oom = false;
    /* attrs were checked (by either set of rules: an SNS type is valid SQS) */
    if (check_all(attrs, false, it, &n, NULL) != LM_OK &&
        check_all(attrs, true, it, &n, NULL) != LM_OK) {
        return NULL;
    }
    if (n == 0) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *a = cJSON_AddObjectToObject(o, it[i].name);
        ok = a != NULL && cJSON_AddStringToObject(a, "DataType", it[i].type) != NULL;
        if (ok && it[i].binary) {
            char *b64 = util_base64(it[i].value, it[i].value_len);
            ok = b64 != NULL && cJSON_AddStringToObject(a, "BinaryValue", b64) != NULL;
            free(b64);
        } else if (ok) {
            ok = cJSON_AddStringToObject(a, "StringValue", it[i].value) != NULL;
        }
    }
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    items_free(it, n);
    *oom = s == NULL;
    return s;
}

cJSON *mq_attributes_sns_to_sqs(const cJSON *sns)
{
    if (sns == NULL || sns->child == NULL) {
        return NULL;
    }
    /* SNS's four types are valid SQS types as they are ("String.Array" is
     * a String with the label Array): the map is copied unchanged. */
    return cJSON_Duplicate(sns, true);
}

cJSON *mq_attributes_sns_envelope(const cJSON *sns)
{
    cJSON *o = cJSON_CreateObject();
    for (const cJSON *a = sns != NULL ? sns->child : NULL; o != NULL && a != NULL; a = a->next) {
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(a, "DataType");
        const cJSON *sv = cJSON_GetObjectItemCaseSensitive(a, "StringValue");
        const cJSON *bv = cJSON_GetObjectItemCaseSensitive(a, "BinaryValue");
        cJSON *x = cJSON_AddObjectToObject(o, a->string);
        if (x == NULL || cJSON_AddStringToObject(x, "Type", cJSON_GetStringValue(dt)) == NULL ||
            cJSON_AddStringToObject(x, "Value", cJSON_GetStringValue(sv != NULL ? sv : bv)) ==
                NULL) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* Is s a JSON number as RFC 8259 writes it? */
static bool json_number_text(const char *s)
{
    const char *p = s;
    if (*p == '-') {
        p++;
    }
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    } else {
        return false;
    }
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9')) {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (!(*p >= '0' && *p <= '9')) {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    return *p == '\0';
}

char *mq_attributes_filter_doc(const cJSON *sns)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL;
    for (const cJSON *a = sns != NULL ? sns->child : NULL; ok && a != NULL; a = a->next) {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "DataType"));
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "StringValue"));
        if (t == NULL || v == NULL) {
            continue; /* Binary: SNS does not filter on it */
        }
        if (strcmp(t, "Number") == 0) {
            char num[40];
            if (!json_number_text(v)) {
                snprintf(num, sizeof(num), "%.17g", strtod(v, NULL));
                v = num;
            }
            ok = cJSON_AddRawToObject(o, a->string, v) != NULL;
        } else if (strcmp(t, "String.Array") == 0) {
            ok = cJSON_AddRawToObject(o, a->string, v) != NULL;
        } else {
            ok = cJSON_AddStringToObject(o, a->string, v) != NULL;
        }
    }
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

cJSON *mq_attributes_sqs_json(const char *stored)
{
    return stored != NULL ? cJSON_Parse(stored) : NULL;
}

cJSON *mq_attributes_lambda_json(const char *stored)
{
    cJSON *in = mq_attributes_sqs_json(stored);
    cJSON *o = cJSON_CreateObject();
    for (const cJSON *a = in != NULL ? in->child : NULL; o != NULL && a != NULL; a = a->next) {
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(a, "DataType");
        const cJSON *sv = cJSON_GetObjectItemCaseSensitive(a, "StringValue");
        const cJSON *bv = cJSON_GetObjectItemCaseSensitive(a, "BinaryValue");
        cJSON *x = cJSON_AddObjectToObject(o, a->string);
        bool ok = x != NULL;
        if (ok && sv != NULL) {
            ok = cJSON_AddStringToObject(x, "stringValue", sv->valuestring) != NULL;
        }
        if (ok && bv != NULL) {
            ok = cJSON_AddStringToObject(x, "binaryValue", bv->valuestring) != NULL;
        }
        ok = ok && cJSON_AddArrayToObject(x, "stringListValues") != NULL &&
             cJSON_AddArrayToObject(x, "binaryListValues") != NULL &&
             cJSON_AddStringToObject(x, "dataType", cJSON_GetStringValue(dt)) != NULL;
        if (!ok) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    cJSON_Delete(in);
    return o;
}
