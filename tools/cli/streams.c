/*
 * tools/cli/streams.c — `lamina stream …`: the broker's own streams, with
 * Kinesis Data Streams' semantics and names (api ops stream-*,
 * lamina/client.h):
 *
 *   create NAME --shards N [--retention-hours 24-8760]    list
 *   get NAME    delete NAME
 *   put NAME --partition-key K DATA|- [--explicit-hash-key H]
 *   put-batch NAME -f FILE.jsonl|-
 *   iterator NAME SHARD TRIM_HORIZON|LATEST|AT_SEQUENCE_NUMBER S|
 *            AFTER_SEQUENCE_NUMBER S|AT_TIMESTAMP T
 *   get-records ITERATOR [--limit 1-10000]
 *   reshard NAME split SHARD NEW_STARTING_HASH_KEY
 *   reshard NAME merge SHARD ADJACENT_SHARD
 *
 * DATA is sent as it is given (bytes; the CLI base64-encodes it, as the
 * Kinesis api carries it).  Each line of a put-batch file is a PutRecords
 * entry {"PartitionKey": K, "Data": BASE64, "ExplicitHashKey"?: H}, or with
 * "Text": STRING in place of Data (the CLI encodes it); at most 500 lines.
 * get-records prints one line per record (sequence number, partition key,
 * the data as text), then NextShardIterator and MillisBehindLatest; with
 * -o json the reply as it is (Data in base64).  put-batch exits with the
 * class of the first failed record's ErrorCode after printing all results.
 * Shapes and ranges the CLI can check (the flags, --limit, the batch file)
 * are usage errors (exit 2) before connecting; the rest is the broker's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define PUT_BATCH_MAX 500

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of p[0..n) (malloc'd). */
static char *b64_encode(const unsigned char *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        v |= i + 1 < n ? (unsigned)p[i + 1] << 8 : 0;
        v |= i + 2 < n ? p[i + 2] : 0;
        *o++ = b64tab[(v >> 18) & 63];
        *o++ = b64tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* Print base64 text decoded, bytes outside printable ASCII as \xNN. */
static void print_data(const char *in)
{
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = in; *p != '\0' && *p != '='; p++) {
        const char *q = strchr(b64tab, *p);
        if (q == NULL) {
            continue;
        }
        acc = (acc << 6) | (unsigned)(q - b64tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            int c = (int)((acc >> bits) & 0xff);
            if (c >= 0x20 && c < 0x7f) {
                putchar(c);
            } else {
                printf("\\x%02x", c);
            }
        }
    }
}

/* ---- text output ---- */

static void text_created(const cJSON *reply)
{
    printf("%-10s %s\n%-10s %s\n", "StreamName", out_str(reply, "StreamName"), "StreamARN",
           out_str(reply, "StreamARN"));
}

static void text_list(const cJSON *reply)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(reply, "StreamSummaries");
    printf("%-40s %s\n", "STREAM", "ARN");
    for (const cJSON *s = l != NULL ? l->child : NULL; s != NULL; s = s->next) {
        printf("%-40s %s\n", out_str(s, "StreamName"), out_str(s, "StreamARN"));
    }
}

static void text_get(const cJSON *reply)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(reply, "StreamDescription");
    const cJSON *ret = cJSON_GetObjectItemCaseSensitive(d, "RetentionPeriodHours");
    printf("%-22s %s\n%-22s %s\n%-22s %s\n%-22s %d\n", "StreamName", out_str(d, "StreamName"),
           "StreamARN", out_str(d, "StreamARN"), "StreamStatus", out_str(d, "StreamStatus"),
           "RetentionPeriodHours", cJSON_IsNumber(ret) ? ret->valueint : 0);
    printf("%-22s %-22s %-42s %-42s %s\n", "SHARD", "PARENTS", "HASH KEYS FROM", "TO",
           "SEQUENCE NUMBERS");
    const cJSON *shards = cJSON_GetObjectItemCaseSensitive(d, "Shards");
    for (const cJSON *s = shards != NULL ? shards->child : NULL; s != NULL; s = s->next) {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(s, "HashKeyRange");
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(s, "SequenceNumberRange");
        char parents[64];
        const char *p = out_str(s, "ParentShardId"), *a = out_str(s, "AdjacentParentShardId");
        snprintf(parents, sizeof(parents), "%s%s%s", p[0] != '\0' ? p + 8 : "-",
                 a[0] != '\0' ? "+" : "", a[0] != '\0' ? a + 8 : "");
        printf("%-22s %-22s %-42s %-42s %s..%s\n", out_str(s, "ShardId"), parents,
               out_str(h, "StartingHashKey"), out_str(h, "EndingHashKey"),
               out_str(q, "StartingSequenceNumber"), out_str(q, "EndingSequenceNumber"));
    }
}

static void text_put(const cJSON *reply)
{
    printf("%-15s %s\n%-15s %s\n", "ShardId", out_str(reply, "ShardId"), "SequenceNumber",
           out_str(reply, "SequenceNumber"));
}

static void text_batch(const cJSON *reply)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(reply, "Records");
    int i = 0;
    for (const cJSON *r = l != NULL ? l->child : NULL; r != NULL; r = r->next, i++) {
        if (out_str(r, "ErrorCode")[0] != '\0') {
            printf("failed  %-4d %s: %s\n", i, out_str(r, "ErrorCode"), out_str(r, "ErrorMessage"));
        } else {
            printf("ok      %-4d %s %s\n", i, out_str(r, "ShardId"), out_str(r, "SequenceNumber"));
        }
    }
}

static void text_iterator(const cJSON *reply)
{
    printf("%s\n", out_str(reply, "ShardIterator"));
}

static void text_records(const cJSON *reply)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(reply, "Records");
    for (const cJSON *r = l != NULL ? l->child : NULL; r != NULL; r = r->next) {
        printf("%s %s ", out_str(r, "SequenceNumber"), out_str(r, "PartitionKey"));
        print_data(out_str(r, "Data"));
        printf("\n");
    }
    const cJSON *behind = cJSON_GetObjectItemCaseSensitive(reply, "MillisBehindLatest");
    const char *next = out_str(reply, "NextShardIterator");
    printf("%-19s %s\n", "NextShardIterator",
           next[0] != '\0' ? next : "(none: the shard is closed)");
    printf("%-19s %.0f\n", "MillisBehindLatest", cJSON_IsNumber(behind) ? behind->valuedouble : 0);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(reply, "ChildShards");
    for (const cJSON *c = ch != NULL ? ch->child : NULL; c != NULL; c = c->next) {
        printf("%-19s %s\n", "ChildShard", out_str(c, "ShardId"));
    }
}

/* ---- the sub-verbs: argv[0] is "stream SUB", argv[1] the first operand ---- */

static cJSON *name_args(const char *name)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "StreamName", name);
    return args;
}

static int int_in(const char *v, int lo, int hi, int *out, const char *flag, const char *cmd)
{
    char msg[160];
    if (args_int(v, out) == 0 && *out >= lo && *out <= hi) {
        return EXIT_OK;
    }
    snprintf(msg, sizeof(msg), "%s takes an integer %d-%d, not '%%s'", flag, lo, hi);
    return out_usage(cmd, msg, v);
}

static int stream_create(cli *c, int argc, char **argv)
{
    args_flag f[] = {{.flag = "--shards"}, {.flag = "--retention-hours"}};
    int rc = args_parse_flags(argc, argv, 2, f, 2), shards = 0, hours = 24;
    if (rc == EXIT_OK && f[0].value == NULL) {
        rc = out_usage(argv[0], "%s", "missing --shards N");
    }
    if (rc == EXIT_OK) {
        rc = int_in(f[0].value, 1, 1000000, &shards, "--shards", argv[0]);
    }
    if (rc == EXIT_OK && f[1].value != NULL) {
        rc = int_in(f[1].value, 1, 1000000, &hours, "--retention-hours", argv[0]);
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = name_args(argv[1]);
    cJSON_AddNumberToObject(args, "ShardCount", shards);
    cJSON_AddNumberToObject(args, "RetentionPeriodHours", hours);
    rc = out_call(c, "stream-create", args, NULL, 0, text_created);
    cJSON_Delete(args);
    return rc;
}

static int stream_list(cli *c, int argc, char **argv)
{
    if (argc > 1) {
        return out_usage(argv[0], "unexpected argument '%s'", argv[1]);
    }
    return out_call(c, "stream-list", NULL, NULL, 0, text_list);
}

static int name_only(cli *c, int argc, char **argv, const char *op, void (*text)(const cJSON *))
{
    if (argc > 2) {
        return out_usage(argv[0], "unexpected argument '%s'", argv[2]);
    }
    cJSON *args = name_args(argv[1]);
    int rc = out_call(c, op, args, NULL, 0, text);
    cJSON_Delete(args);
    return rc;
}

static int stream_get(cli *c, int argc, char **argv)
{
    return name_only(c, argc, argv, "stream-get", text_get);
}

static int stream_delete(cli *c, int argc, char **argv)
{
    return name_only(c, argc, argv, "stream-delete", out_nothing);
}

/* put NAME --partition-key K DATA|- [--explicit-hash-key H] (DATA anywhere
 * among the flags). */
static int stream_put(cli *c, int argc, char **argv)
{
    const char *data = NULL;
    char *rest[8];
    int n = 0;
    for (int i = 2; i < argc; i++) {
        bool flag = argv[i][0] == '-' && argv[i][1] == '-';
        if (flag && i + 1 < argc && n + 2 <= 7) {
            rest[n++] = argv[i];
            rest[n++] = argv[++i];
        } else if (flag || n + 1 > 7) {
            rest[n++] = argv[i]; /* args_parse_flags names the problem */
            break;
        } else if (data == NULL) {
            data = argv[i];
        } else {
            return out_usage(argv[0], "unexpected argument '%s'", argv[i]);
        }
    }
    args_flag f[] = {{.flag = "--partition-key"}, {.flag = "--explicit-hash-key"}};
    char *fargv[10] = {argv[0]};
    memcpy(fargv + 1, rest, (size_t)n * sizeof(char *));
    int rc = args_parse_flags(n + 1, fargv, 1, f, 2);
    if (rc == EXIT_OK && f[0].value == NULL) {
        rc = out_usage(argv[0], "%s", "missing --partition-key K");
    }
    if (rc == EXIT_OK && data == NULL) {
        rc = out_usage(argv[0], "%s", "missing DATA (or - to read it from stdin)");
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    size_t len = strlen(data);
    char *in = NULL;
    if (strcmp(data, "-") == 0) {
        in = args_read_stream(stdin, &len);
        if (in == NULL) {
            return out_usage(argv[0], "%s", "cannot read DATA from stdin");
        }
    }
    char *b64 = b64_encode((const unsigned char *)(in != NULL ? in : data), len);
    free(in);
    cJSON *args = name_args(argv[1]);
    cJSON_AddStringToObject(args, "PartitionKey", f[0].value);
    cJSON_AddStringToObject(args, "Data", b64 != NULL ? b64 : "");
    if (f[1].value != NULL) {
        cJSON_AddStringToObject(args, "ExplicitHashKey", f[1].value);
    }
    free(b64);
    rc = out_call(c, "stream-put", args, NULL, 0, text_put);
    cJSON_Delete(args);
    return rc;
}

/* One line of a put-batch file as a Records entry ("Text" encoded), or
 * NULL. */
static cJSON *batch_line(const char *s)
{
    cJSON *e = cJSON_ParseWithOpts(s, NULL, true);
    if (!cJSON_IsObject(e)) {
        cJSON_Delete(e);
        return NULL;
    }
    cJSON *text = cJSON_DetachItemFromObjectCaseSensitive(e, "Text");
    if (cJSON_IsString(text) && cJSON_GetObjectItemCaseSensitive(e, "Data") == NULL) {
        char *b64 = b64_encode((const unsigned char *)text->valuestring, strlen(text->valuestring));
        cJSON_AddStringToObject(e, "Data", b64 != NULL ? b64 : "");
        free(b64);
    }
    cJSON_Delete(text);
    return e;
}

static int batch_exit(const cli *c, const cJSON *reply)
{
    const cJSON *fc = cJSON_GetObjectItemCaseSensitive(reply, "FailedRecordCount");
    int nbad = cJSON_IsNumber(fc) ? fc->valueint : 0;
    if (nbad == 0) {
        return EXIT_OK;
    }
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(reply, "Records"), *first = NULL;
    for (const cJSON *r = l != NULL ? l->child : NULL; r != NULL && first == NULL; r = r->next) {
        first = out_str(r, "ErrorCode")[0] != '\0' ? r : NULL;
    }
    if (c->json) {
        fprintf(stderr, "{\"Type\":\"%s\",\"Failed\":%d}\n", out_str(first, "ErrorCode"), nbad);
    } else {
        fprintf(stderr, "lamina: %d of %d records failed (first: %s)\n", nbad,
                cJSON_GetArraySize(l), out_str(first, "ErrorCode"));
    }
    return out_exit_for_type(out_str(first, "ErrorCode"), true);
}

static int stream_put_batch(cli *c, int argc, char **argv)
{
    args_flag f[] = {{.flag = "-f"}};
    int rc = args_parse_flags(argc, argv, 2, f, 1);
    if (rc == EXIT_OK && f[0].value == NULL) {
        rc = out_usage(argv[0], "%s", "missing -f FILE.jsonl (one record a line, - for stdin)");
    }
    char *text = rc == EXIT_OK ? args_read_path(f[0].value, argv[0], &rc) : NULL;
    cJSON *records = text != NULL ? args_jsonl(text, f[0].value, argv[0],
                                               &(args_jsonl_spec){
                                                   .max = PUT_BATCH_MAX,
                                                   .noun = "records",
                                                   .one = "record",
                                                   .shape = "{\"PartitionKey\":…,\"Data\":…}",
                                                   .line = batch_line,
                                               })
                                  : NULL;
    free(text);
    if (rc != EXIT_OK || records == NULL) {
        return rc != EXIT_OK ? rc : EXIT_USAGE;
    }
    cJSON *args = name_args(argv[1]), *reply = NULL;
    cJSON_AddItemToObject(args, "Records", records);
    rc = out_request(c, "stream-put-batch", args, &reply);
    if (rc == EXIT_OK) {
        out_print(c, reply, text_batch);
        rc = batch_exit(c, reply);
    }
    cJSON_Delete(reply);
    cJSON_Delete(args);
    return rc;
}

/* iterator NAME SHARD TYPE [S|T] */
static int stream_iterator(cli *c, int argc, char **argv)
{
    if (argc < 4) {
        return out_usage(argv[0], "%s", "missing SHARD or TYPE");
    }
    const char *type = argv[3];
    bool needs_seq =
        strcmp(type, "AT_SEQUENCE_NUMBER") == 0 || strcmp(type, "AFTER_SEQUENCE_NUMBER") == 0;
    bool needs_ts = strcmp(type, "AT_TIMESTAMP") == 0;
    if (!needs_seq && !needs_ts && strcmp(type, "TRIM_HORIZON") != 0 &&
        strcmp(type, "LATEST") != 0) {
        return out_usage(argv[0],
                         "TYPE is TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER S, "
                         "AFTER_SEQUENCE_NUMBER S or AT_TIMESTAMP T, not '%s'",
                         type);
    }
    int need = needs_seq || needs_ts ? 5 : 4;
    if (argc < need) {
        return out_usage(argv[0], "%s needs its value (a sequence number or epoch seconds)", type);
    }
    if (argc > need) {
        return out_usage(argv[0], "unexpected argument '%s'", argv[need]);
    }
    cJSON *args = name_args(argv[1]);
    cJSON_AddStringToObject(args, "ShardId", argv[2]);
    cJSON_AddStringToObject(args, "ShardIteratorType", type);
    if (needs_seq) {
        cJSON_AddStringToObject(args, "StartingSequenceNumber", argv[4]);
    } else if (needs_ts) {
        cJSON_AddStringToObject(args, "Timestamp", argv[4]);
    }
    int rc = out_call(c, "stream-iterator", args, NULL, 0, text_iterator);
    cJSON_Delete(args);
    return rc;
}

/* get-records ITERATOR [--limit N] */
static int stream_get_records(cli *c, int argc, char **argv)
{
    args_flag f[] = {{.flag = "--limit"}};
    int rc = args_parse_flags(argc, argv, 2, f, 1), limit = 0;
    if (rc == EXIT_OK && f[0].value != NULL) {
        rc = int_in(f[0].value, 1, 10000, &limit, "--limit", argv[0]);
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "ShardIterator", argv[1]);
    if (limit > 0) {
        cJSON_AddNumberToObject(args, "Limit", limit);
    }
    rc = out_call(c, "stream-get-records", args, NULL, 0, text_records);
    cJSON_Delete(args);
    return rc;
}

/* reshard NAME split SHARD KEY | merge SHARD ADJACENT */
static int stream_reshard(cli *c, int argc, char **argv)
{
    bool split = argc >= 3 && strcmp(argv[2], "split") == 0;
    if (argc < 3 || (!split && strcmp(argv[2], "merge") != 0)) {
        return out_usage(argv[0],
                         "expects NAME split SHARD KEY or NAME merge SHARD ADJACENT, "
                         "got '%s'",
                         argc >= 3 ? argv[2] : "");
    }
    if (argc != 5) {
        return out_usage(argv[0], "%s",
                         split ? "split takes SHARD NEW_STARTING_HASH_KEY"
                               : "merge takes SHARD ADJACENT_SHARD");
    }
    cJSON *args = name_args(argv[1]);
    cJSON_AddStringToObject(args, split ? "ShardToSplit" : "ShardToMerge", argv[3]);
    cJSON_AddStringToObject(args, split ? "NewStartingHashKey" : "AdjacentShardToMerge", argv[4]);
    int rc = out_call(c, split ? "stream-split" : "stream-merge", args, NULL, 0, out_nothing);
    cJSON_Delete(args);
    return rc;
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    command_fn run;
    const char *operand; /* NULL: none */
} stream_subs[] = {
    {"create", stream_create, "NAME"},     {"list", stream_list, NULL},
    {"get", stream_get, "NAME"},           {"delete", stream_delete, "NAME"},
    {"put", stream_put, "NAME"},           {"put-batch", stream_put_batch, "NAME"},
    {"iterator", stream_iterator, "NAME"}, {"get-records", stream_get_records, "ITERATOR"},
    {"reshard", stream_reshard, "NAME"},
};

int cmd_stream(cli *c, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    size_t n = sizeof(stream_subs) / sizeof(stream_subs[0]), k = 0;
    while (k < n && strcmp(sub, stream_subs[k].name) != 0) {
        k++;
    }
    if (k == n) {
        return out_usage(argv[0],
                         "expects create|list|get|delete|put|put-batch|iterator|get-records|"
                         "reshard, got '%s'",
                         sub);
    }
    char verb[48];
    snprintf(verb, sizeof(verb), "stream %s", sub);
    if (stream_subs[k].operand != NULL && (argc < 3 || argv[2][0] == '-')) {
        return out_usage(verb, "missing %s", stream_subs[k].operand);
    }
    argv[1] = verb;
    return stream_subs[k].run(c, argc - 1, argv + 1);
}
