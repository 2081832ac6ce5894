/*
 * broker/esm/records.c — what a batch is made of and what comes back:
 * filtering a record (§6), the event text {"Records":[…]}, and a
 * ReportBatchItemFailures response read by §5.4's rules.
 *
 * Filtering.  A record is matched as the function would receive it, with
 * its data key (SQS body, the stream record's decoded data) replaced by the
 * parsed JSON when the data is JSON.  A pattern that names the data key as
 * an object needs JSON data, one that names it with a leaf list needs
 * data that is not JSON: a mismatch fails that pattern (SQS drops such a
 * message, §6.2); a pattern that does not name the key filters on the
 * metadata alone.  Filters are ORed.  A stream record is matched with the
 * fields of its "kinesis" object at the top (partitionKey,
 * sequenceNumber, data, …), the shape Lambda's Kinesis patterns use.
 *
 * Responses.  Full success: an empty or null response, no
 * batchItemFailures, or an empty or null list.  Full failure: a response
 * that is not JSON (queues; a stream's counts as success, see README.md), a
 * batchItemFailures that is not a list, an item that is not an object or
 * whose itemIdentifier is missing, empty, not a string or (queues, and
 * streams too: Lamina's choice) not an identifier of the batch.
 */
#include <stdlib.h>
#include <string.h>

#include "esm/internal.h"

/* The whole of text[0..len) as one JSON value (trailing blanks allowed),
 * or NULL. */
static cJSON *parse_exact(const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (j == NULL) {
        return NULL;
    }
    while (end < text + len && (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')) {
        end++;
    }
    if (end != text + len) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Data is JSON when it is an object or an array (a bare "123" or "true"
 * body is text: Lamina's reading of §6.2). */
static bool is_json(const char *data, size_t len, cJSON **out)
{
    *out = len > 0 ? parse_exact(data, len) : NULL;
    if (*out != NULL && !cJSON_IsObject(*out) && !cJSON_IsArray(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return *out != NULL;
}

bool esm_record_passes(const esm_map *mp, const cJSON *record, const char *key, const char *data,
                       size_t len)
{
    if (mp->n_flt == 0) {
        return true;
    }
    cJSON *parsed = NULL;
    bool json = is_json(data, len, &parsed);
    cJSON *ev = cJSON_Duplicate(record, true);
    if (ev == NULL) {
        cJSON_Delete(parsed);
        return true; /* out of memory: deliver rather than drop */
    }
    if (json) {
        cJSON_ReplaceItemInObjectCaseSensitive(ev, key, parsed);
    } else {
        cJSON_ReplaceItemInObjectCaseSensitive(ev, key,
                                               cJSON_CreateString(data != NULL ? data : ""));
    }
    bool pass = false;
    for (int i = 0; !pass && i < mp->n_flt; i++) {
        if ((mp->flt[i].rule == ESM_KEY_JSON && !json) ||
            (mp->flt[i].rule == ESM_KEY_PLAIN && json)) {
            continue;
        }
        filter_error fe;
        pass = filter_match_json(mp->flt[i].f, ev, &fe) == 1;
    }
    cJSON_Delete(ev);
    return pass;
}

char *esm_event_text(const esm_batch *b, size_t *len)
{
    cJSON *ev = cJSON_CreateObject();
    if (ev == NULL) {
        return NULL;
    }
    cJSON_AddItemReferenceToObject(ev, "Records", b->records);
    char *t = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev); /* the reference only */
    *len = t != NULL ? strlen(t) : 0;
    return t;
}

static bool in_batch(const char *id, const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ids[i], id) == 0) {
            return true;
        }
    }
    return false;
}

int esm_batch_failures(const char *payload, size_t len, bool queue, const char *const *ids,
                       size_t n, const char **failed, cJSON **tree)
{
    *tree = NULL;
    size_t i = 0;
    while (i < len &&
           (payload[i] == ' ' || payload[i] == '\n' || payload[i] == '\t' || payload[i] == '\r')) {
        i++;
    }
    if (i == len) {
        return 0; /* empty: success */
    }
    cJSON *j = parse_exact(payload, len);
    if (j == NULL) {
        return queue ? -1 : 0;
    }
    *tree = j;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "batchItemFailures");
    if (!cJSON_IsObject(j) || l == NULL || cJSON_IsNull(l)) {
        return 0;
    }
    if (!cJSON_IsArray(l)) {
        return -1;
    }
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, l)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "itemIdentifier");
        if (!cJSON_IsObject(it) || !cJSON_IsString(id) || id->valuestring[0] == '\0' ||
            !in_batch(id->valuestring, ids, n)) {
            return -1;
        }
        if ((size_t)k < n) {
            failed[k++] = id->valuestring;
        }
    }
    return k;
}

void esm_batch_free(esm_batch *b)
{
    if (b == NULL) {
        return;
    }
    mq_msgs_free(b->msgs, b->n);
    free(b->seqs);
    cJSON_Delete(b->records);
    free(b->payload);
    free(b);
}
