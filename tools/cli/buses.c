/*
 * tools/cli/buses.c — `lamina bus …` and `lamina rule …`: the broker's
 * EventBridge-style event buses (api ops bus-*, rule-*; service.h):
 *
 *   bus create NAME    bus list    bus get NAME    bus delete NAME
 *   bus put-events [--bus B] (-f EVENTS.jsonl|- | --entry JSON)...
 *   bus tail NAME [--count N]
 *   bus archive create NAME --bus B [--pattern JSON] [--retention-days N]
 *                      [--description TEXT]          (N 0: forever, the default)
 *   bus archive list [--bus B]    bus archive get|delete NAME
 *   bus replay ARCHIVE --from T --to T [--rules R1,R2] [--name REPLAY]
 *   bus replay list    bus replay get REPLAY
 *                      (T: RFC 3339 UTC, 2026-12-07T10:00:00Z, or epoch seconds)
 *   rule put NAME --pattern JSON [--bus B] [--disabled]
 *   rule delete NAME [--bus B] [--force]
 *   rule get|enable|disable NAME [--bus B]    rule list [--bus B]
 *   rule targets list RULE [--bus B]
 *   rule targets remove RULE --id ID... [--bus B]
 *   rule targets put RULE [--bus B] --target ID=ARN [--input JSON |
 *                    --input-path PATH | --input-transformer PATHS_MAP TEMPLATE]
 *                    [--max-age S] [--max-retries N] [--dlq QUEUE_ARN]
 *                    [--message-group-id G]   (a FIFO queue target: required)
 *
 * rule delete refuses a rule that still has targets, as EventBridge does;
 * --force removes them with it (Lamina's convenience: AWS needs
 * remove-targets first).  rule targets put prints each target the broker
 * left out (FailedEntries: "ID: ErrorCode: ErrorMessage" on stderr) and
 * exits with the first one's class.
 *
 * put-events reads one PutEvents entry ({"Source","DetailType","Detail"
 * (JSON text or an object, sent as text),"Resources"?}) per line or per
 * --entry, and --bus sets EventBusName where an entry has none.  It
 * prints each entry's EventId or error and exits with the first failed
 * entry's class.
 *
 * bus tail prints each event put on the bus from now on, one JSON envelope
 * a line (flushed), until interrupted or, with --count, after N events.
 * It long-polls the broker's bus-tail op (a cursor from the first call,
 * then 20 s waits), so it never polls files and misses nothing the
 * broker's in-memory ring still held; when the ring overflowed it says on
 * stderr how many events it missed.  Best-effort: not a durable consumer.
 *
 * bus replay names the replay ARCHIVE-XXXXXXXX (random hex) unless --name
 * is given, prints its name and returns at once: the broker replays in the
 * background, and `bus replay get` shows State (STARTING, RUNNING,
 * COMPLETED, FAILED) and EventsReplayed.  With --rules it reads the
 * archive's bus first (Destination.Arn must be that bus).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void text_arn(const cJSON *reply)
{
    const cJSON *v = reply->child;
    printf("%s\n", cJSON_IsString(v) ? v->valuestring : "");
}

static void text_buses(const cJSON *reply)
{
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(reply, "EventBuses");
    printf("%-32s %s\n", "BUS", "ARN");
    for (const cJSON *b = bs != NULL ? bs->child : NULL; b != NULL; b = b->next) {
        printf("%-32s %s\n", out_str(b, "Name"), out_str(b, "Arn"));
    }
}

static void text_fields(const cJSON *reply)
{
    out_fields(reply, 14);
}

static void text_rules(const cJSON *reply)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(reply, "Rules");
    printf("%-32s %-8s %s\n", "RULE", "STATE", "PATTERN");
    for (const cJSON *r = rs != NULL ? rs->child : NULL; r != NULL; r = r->next) {
        printf("%-32s %-8s %s\n", out_str(r, "Name"), out_str(r, "State"),
               out_str(r, "EventPattern"));
    }
}

static void text_targets(const cJSON *reply)
{
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(reply, "Targets");
    printf("%-16s %s\n", "ID", "ARN");
    for (const cJSON *t = ts != NULL ? ts->child : NULL; t != NULL; t = t->next) {
        printf("%-16s %s\n", out_str(t, "Id"), out_str(t, "Arn"));
    }
}

/* PutTargets: the reply's FailedEntries on stderr, the first one's class. */
static int targets_put_call(cli *c, const cJSON *args)
{
    cJSON *reply = NULL;
    int rc = out_request(c, "rule-targets-put", args, &reply);
    if (rc != EXIT_OK) {
        return rc;
    }
    if (c->json) {
        out_print(c, reply, NULL);
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(reply, "FailedEntries"))
    {
        fprintf(stderr, "%s: %s: %s\n", out_str(f, "TargetId"), out_str(f, "ErrorCode"),
                out_str(f, "ErrorMessage"));
        if (rc == EXIT_OK) {
            rc = out_exit_for_type(out_str(f, "ErrorCode"), true);
        }
    }
    cJSON_Delete(reply);
    return rc;
}

static int call_json(cli *c, const char *op, cJSON *args, void (*text)(const cJSON *))
{
    int rc = out_call(c, op, args, NULL, 0, text);
    cJSON_Delete(args);
    return rc;
}

static cJSON *named(const char *key, const char *v, const char *bus)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, key, v);
    if (bus != NULL) {
        cJSON_AddStringToObject(a, "EventBusName", bus);
    }
    return a;
}

/* One entry from JSON text: Detail given as an object becomes text. */
static int add_entry(cJSON *entries, const char *text, const char *bus, const char *cmd)
{
    cJSON *o = cJSON_Parse(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return out_usage(cmd, "an entry must be a JSON object, got '%s'", text);
    }
    cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "Detail");
    if (cJSON_IsObject(d)) {
        char *s = cJSON_PrintUnformatted(d);
        cJSON_ReplaceItemInObjectCaseSensitive(o, "Detail", cJSON_CreateString(s));
        free(s);
    }
    if (bus != NULL && cJSON_GetObjectItemCaseSensitive(o, "EventBusName") == NULL) {
        cJSON_AddStringToObject(o, "EventBusName", bus);
    }
    cJSON_AddItemToArray(entries, o);
    return EXIT_OK;
}

static int read_lines(cJSON *entries, const char *path, const char *bus, const char *cmd)
{
    int rc = EXIT_OK;
    char *all = args_read_path(path, cmd, &rc);
    if (all == NULL) {
        return rc;
    }
    for (char *save = NULL, *line = strtok_r(all, "\n", &save); line != NULL && rc == EXIT_OK;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[strspn(line, " \t\r")] != '\0') {
            rc = add_entry(entries, line, bus, cmd);
        }
    }
    free(all);
    return rc;
}

static int put_events(cli *c, int argc, char **argv)
{
    cJSON *files = cJSON_CreateArray(), *inline_ = cJSON_CreateArray();
    args_flag f[] = {
        {.flag = "--bus"}, {.flag = "-f", .all = files}, {.flag = "--entry", .all = inline_}};
    int rc = args_parse_flags(argc, argv, 1, f, 3);
    cJSON *entries = cJSON_CreateArray();
    const cJSON *v;
    cJSON_ArrayForEach(v, files)
    {
        if (rc == EXIT_OK) {
            rc = read_lines(entries, v->valuestring, f[0].value, argv[0]);
        }
    }
    cJSON_ArrayForEach(v, inline_)
    {
        if (rc == EXIT_OK) {
            rc = add_entry(entries, v->valuestring, f[0].value, argv[0]);
        }
    }
    if (rc == EXIT_OK && cJSON_GetArraySize(entries) == 0) {
        rc = out_usage(argv[0], "%s", "give entries with -f FILE.jsonl or --entry JSON");
    }
    cJSON *reply = NULL;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddItemToObject(args, "Entries", entries);
    if (rc == EXIT_OK) {
        rc = out_request(c, "bus-put-events", args, &reply);
    }
    if (rc == EXIT_OK) {
        if (c->json) {
            out_print(c, reply, NULL);
        }
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(reply, "Entries"))
        {
            const char *code = out_str(r, "ErrorCode");
            if (code[0] != '\0') {
                fprintf(stderr, "%s: %s\n", code, out_str(r, "ErrorMessage"));
                if (rc == EXIT_OK) {
                    rc = out_exit_for_type(code, true);
                }
            } else if (!c->json) {
                printf("%s\n", out_str(r, "EventId"));
            }
        }
    }
    cJSON_Delete(reply);
    cJSON_Delete(args);
    cJSON_Delete(files);
    cJSON_Delete(inline_);
    return rc;
}

static int tail(cli *c, int argc, char **argv)
{
    args_flag f[] = {{.flag = "--count"}};
    if (argc < 2 || argv[1][0] == '-') {
        return out_usage("bus tail", "%s", "missing NAME");
    }
    int rc = args_parse_flags(argc, argv, 2, f, 1);
    long count = -1;
    if (rc == EXIT_OK && f[0].value != NULL) {
        char *end = NULL;
        count = strtol(f[0].value, &end, 10);
        if (end == f[0].value || *end != '\0' || count < 1) {
            rc = out_usage("bus tail", "--count takes a positive integer, got '%s'", f[0].value);
        }
    }
    char cursor[64] = "";
    while (rc == EXIT_OK && count != 0) {
        cJSON *args = named("EventBusName", argv[1], NULL), *reply = NULL;
        if (cursor[0] != '\0') {
            cJSON_AddStringToObject(args, "Cursor", cursor);
            cJSON_AddNumberToObject(args, "WaitTimeSeconds", 20);
        }
        rc = out_request(c, "bus-tail", args, &reply);
        cJSON_Delete(args);
        if (rc != EXIT_OK) {
            break;
        }
        const cJSON *missed = cJSON_GetObjectItemCaseSensitive(reply, "Missed");
        if (cJSON_IsNumber(missed)) {
            fprintf(stderr, "bus tail: %.0f events fell out of the broker's ring (missed)\n",
                    missed->valuedouble);
        }
        const cJSON *ev;
        cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(reply, "Events"))
        {
            if (count == 0) {
                break;
            }
            char *line = cJSON_PrintUnformatted(ev);
            printf("%s\n", line != NULL ? line : "null");
            free(line);
            count -= count > 0;
        }
        fflush(stdout);
        snprintf(cursor, sizeof(cursor), "%s", out_str(reply, "NextCursor"));
        cJSON_Delete(reply);
    }
    return rc;
}

static void text_archives(const cJSON *reply)
{
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(reply, "Archives");
    printf("%-32s %-10s %-10s %s\n", "ARCHIVE", "EVENTS", "RETENTION", "SOURCE");
    for (const cJSON *a = as != NULL ? as->child : NULL; a != NULL; a = a->next) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "EventCount");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(a, "RetentionDays");
        printf("%-32s %-10.0f %-10.0f %s\n", out_str(a, "ArchiveName"),
               cJSON_IsNumber(n) ? n->valuedouble : 0, cJSON_IsNumber(d) ? d->valuedouble : 0,
               out_str(a, "EventSourceArn"));
    }
}

static void text_replays(const cJSON *reply)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(reply, "Replays");
    printf("%-40s %-10s %-8s %s\n", "REPLAY", "STATE", "EVENTS", "ARCHIVE");
    for (const cJSON *r = rs != NULL ? rs->child : NULL; r != NULL; r = r->next) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(r, "EventsReplayed");
        printf("%-40s %-10s %-8.0f %s\n", out_str(r, "ReplayName"), out_str(r, "State"),
               cJSON_IsNumber(n) ? n->valuedouble : 0, out_str(r, "EventSourceArn"));
    }
}

static int archive(cli *c, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    args_flag f[] = {{.flag = "--bus"},
                     {.flag = "--pattern"},
                     {.flag = "--retention-days"},
                     {.flag = "--description"}};
    if (strcmp(sub, "list") == 0) {
        int rc = args_parse_flags(argc, argv, 2, f, 1);
        if (rc != EXIT_OK) {
            return rc;
        }
        cJSON *a = cJSON_CreateObject();
        if (f[0].value != NULL) {
            cJSON_AddStringToObject(a, "EventSourceArn", f[0].value);
        }
        return call_json(c, "archive-list", a, text_archives);
    }
    bool create = strcmp(sub, "create") == 0, get = strcmp(sub, "get") == 0;
    if (!create && !get && strcmp(sub, "delete") != 0) {
        return out_usage("bus archive", "expects create|list|get|delete, got '%s'", sub);
    }
    if (argc < 3 || argv[2][0] == '-') {
        return out_usage("bus archive", "%s", "missing NAME");
    }
    int rc = args_parse_flags(argc, argv, 3, f, create ? 4 : 0);
    if (rc == EXIT_OK && create && f[0].value == NULL) {
        rc = out_usage("bus archive create", "%s", "missing --bus B");
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *a = named("ArchiveName", argv[2], NULL);
    if (create) {
        cJSON_AddStringToObject(a, "EventSourceArn", f[0].value);
        if (f[1].value != NULL) {
            cJSON_AddStringToObject(a, "EventPattern", f[1].value);
        }
        if (f[3].value != NULL) {
            cJSON_AddStringToObject(a, "Description", f[3].value);
        }
        rc = args_add_int(a, "RetentionDays", f[2].value, "bus archive create");
        if (rc != EXIT_OK) {
            cJSON_Delete(a);
            return rc;
        }
    }
    return call_json(c,
                     create ? "archive-create"
                     : get  ? "archive-get"
                            : "archive-delete",
                     a,
                     create ? text_arn
                     : get  ? text_fields
                            : out_nothing);
}

/* T as the op wants it: digits are epoch seconds (a number), else text. */
static void add_time(cJSON *o, const char *key, const char *t)
{
    if (t[0] != '\0' && t[strspn(t, "0123456789")] == '\0') {
        cJSON_AddNumberToObject(o, key, strtod(t, NULL));
    } else {
        cJSON_AddStringToObject(o, key, t);
    }
}

/* ARCHIVE-XXXXXXXX: a replay name nobody gave. */
static void replay_name(const char *archive, char out[80])
{
    unsigned char r[4] = {0};
    FILE *u = fopen("/dev/urandom", "rb");
    if (u != NULL) {
        if (fread(r, 1, sizeof(r), u) != sizeof(r)) {
            r[0] ^= (unsigned char)getpid();
        }
        fclose(u);
    }
    snprintf(out, 80, "%.48s-%02x%02x%02x%02x", archive, r[0], r[1], r[2], r[3]);
}

/* Destination {Arn: the archive's bus, FilterArns: R1,R2…} into a. */
static int replay_rules(cli *c, cJSON *a, const char *archive, const char *list)
{
    cJSON *ga = named("ArchiveName", archive, NULL), *got = NULL;
    int rc = out_request(c, "archive-get", ga, &got);
    cJSON_Delete(ga);
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *d = cJSON_AddObjectToObject(a, "Destination"), *rules = cJSON_CreateArray();
    cJSON_AddStringToObject(d, "Arn", out_str(got, "EventSourceArn"));
    cJSON_Delete(got);
    char *copy = strdup(list);
    for (char *save = NULL, *r = strtok_r(copy, ",", &save); r != NULL;
         r = strtok_r(NULL, ",", &save)) {
        cJSON_AddItemToArray(rules, cJSON_CreateString(r));
    }
    free(copy);
    cJSON_AddItemToObject(d, "FilterArns", rules);
    return EXIT_OK;
}

static int replay(cli *c, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    if (strcmp(sub, "list") == 0 && argc == 2) {
        return call_json(c, "replay-list", cJSON_CreateObject(), text_replays);
    }
    if (strcmp(sub, "get") == 0 && argc == 3 && argv[2][0] != '-') {
        return call_json(c, "replay-get", named("ReplayName", argv[2], NULL), text_fields);
    }
    if (argc < 2 || sub[0] == '-') {
        return out_usage("bus replay", "%s", "expects ARCHIVE --from T --to T, list or get NAME");
    }
    args_flag f[] = {{.flag = "--from"}, {.flag = "--to"}, {.flag = "--rules"}, {.flag = "--name"}};
    int rc = args_parse_flags(argc, argv, 2, f, 4);
    if (rc == EXIT_OK && (f[0].value == NULL || f[1].value == NULL)) {
        rc = out_usage("bus replay", "%s", "takes --from T --to T");
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    char name[80];
    if (f[3].value != NULL) {
        snprintf(name, sizeof(name), "%s", f[3].value);
    } else {
        replay_name(sub, name);
    }
    cJSON *a = named("ReplayName", name, NULL), *reply = NULL;
    cJSON_AddStringToObject(a, "EventSourceArn", sub);
    add_time(a, "EventStartTime", f[0].value);
    add_time(a, "EventEndTime", f[1].value);
    if (f[2].value != NULL) {
        rc = replay_rules(c, a, sub, f[2].value);
    }
    if (rc == EXIT_OK) {
        rc = out_request(c, "replay-start", a, &reply);
    }
    if (rc == EXIT_OK) {
        if (c->json) {
            cJSON_AddStringToObject(reply, "ReplayName", name);
            out_print(c, reply, NULL);
        } else {
            printf("%s\n", name);
        }
    }
    cJSON_Delete(reply);
    cJSON_Delete(a);
    return rc;
}

int cmd_bus(cli *c, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    if (strcmp(sub, "list") == 0) {
        return call_json(c, "bus-list", cJSON_CreateObject(), text_buses);
    }
    if (strcmp(sub, "tail") == 0) {
        return tail(c, argc - 1, argv + 1);
    }
    if (strcmp(sub, "archive") == 0) {
        return archive(c, argc - 1, argv + 1);
    }
    if (strcmp(sub, "replay") == 0) {
        return replay(c, argc - 1, argv + 1);
    }
    if (strcmp(sub, "put-events") == 0) {
        argv[1] = "bus put-events";
        return put_events(c, argc - 1, argv + 1);
    }
    bool create = strcmp(sub, "create") == 0, get = strcmp(sub, "get") == 0;
    if (!create && !get && strcmp(sub, "delete") != 0) {
        return out_usage(argv[0],
                         "expects create|list|get|delete|put-events|tail|archive|replay, got '%s'",
                         sub);
    }
    if (argc != 3 || argv[2][0] == '-') {
        return out_usage(argv[0], "%s", "missing NAME");
    }
    return call_json(c,
                     create ? "bus-create"
                     : get  ? "bus-get"
                            : "bus-delete",
                     named("Name", argv[2], NULL),
                     create ? text_arn
                     : get  ? text_fields
                            : out_nothing);
}

/* targets list RULE [--bus B] | targets remove RULE --id ID... [--bus B] */
static int rule_targets_other(cli *c, int argc, char **argv)
{
    bool list = strcmp(argv[1], "list") == 0;
    cJSON *ids = cJSON_CreateArray();
    args_flag f[] = {{.flag = "--bus"}, {.flag = "--id", .all = ids}};
    int rc = args_parse_flags(argc, argv, 3, f, list ? 1 : 2);
    if (rc == EXIT_OK && !list && cJSON_GetArraySize(ids) == 0) {
        rc = out_usage("rule targets remove", "%s", "missing --id ID");
    }
    if (rc != EXIT_OK) {
        cJSON_Delete(ids);
        return rc;
    }
    cJSON *args = named("Rule", argv[2], f[0].value);
    if (!list) {
        cJSON_AddItemToObject(args, "Ids", ids);
        ids = NULL;
    }
    cJSON_Delete(ids);
    return call_json(c, list ? "rule-targets-list" : "rule-targets-remove", args,
                     list ? text_targets : out_nothing);
}

static int rule_targets_put(cli *c, int argc, char **argv)
{
    if (argc >= 3 && argv[2][0] != '-' &&
        (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "remove") == 0)) {
        return rule_targets_other(c, argc, argv);
    }
    if (argc < 3 || strcmp(argv[1], "put") != 0 || argv[2][0] == '-') {
        return out_usage("rule targets", "%s", "expects put|list|remove RULE");
    }
    /* --input-transformer takes two values: taken out before the flags */
    const char *tr_map = NULL, *tr_tmpl = NULL;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--input-transformer") == 0) {
            if (i + 2 >= argc) {
                return out_usage("rule targets put", "%s",
                                 "--input-transformer takes PATHS_MAP TEMPLATE");
            }
            tr_map = argv[i + 1];
            tr_tmpl = argv[i + 2];
            memmove(&argv[i], &argv[i + 3], (size_t)(argc - i - 3) * sizeof(*argv));
            argc -= 3;
            break;
        }
    }
    cJSON *targets = cJSON_CreateArray();
    args_flag f[] = {{.flag = "--bus"},     {.flag = "--target", .all = targets},
                     {.flag = "--input"},   {.flag = "--input-path"},
                     {.flag = "--max-age"}, {.flag = "--max-retries"},
                     {.flag = "--dlq"},     {.flag = "--message-group-id"}};
    int rc = args_parse_flags(argc, argv, 3, f, 8);
    cJSON *pm = tr_map != NULL ? cJSON_Parse(tr_map) : NULL;
    if (rc == EXIT_OK && tr_map != NULL && !cJSON_IsObject(pm)) {
        rc = out_usage("rule targets put", "PATHS_MAP must be a JSON object, got '%s'", tr_map);
    }
    if (rc == EXIT_OK && cJSON_GetArraySize(targets) != 1) {
        rc = out_usage("rule targets put", "%s", "takes one --target ID=ARN");
    }
    cJSON *list = cJSON_CreateArray();
    if (rc == EXIT_OK) {
        const char *kv = cJSON_GetArrayItem(targets, 0)->valuestring;
        const char *eq = strchr(kv, '=');
        if (eq == NULL || eq == kv || eq[1] == '\0') {
            rc = out_usage("rule targets put", "--target takes ID=ARN, got '%s'", kv);
        } else {
            cJSON *t = cJSON_CreateObject();
            char id[128];
            snprintf(id, sizeof(id), "%.*s", (int)(eq - kv), kv);
            cJSON_AddStringToObject(t, "Id", id);
            cJSON_AddStringToObject(t, "Arn", eq + 1);
            if (f[2].value != NULL) {
                cJSON_AddStringToObject(t, "Input", f[2].value);
            }
            if (f[3].value != NULL) {
                cJSON_AddStringToObject(t, "InputPath", f[3].value);
            }
            if (f[4].value != NULL || f[5].value != NULL) {
                cJSON *rp = cJSON_AddObjectToObject(t, "RetryPolicy");
                rc = args_add_int(rp, "MaximumEventAgeInSeconds", f[4].value, "rule targets put");
                if (rc == EXIT_OK) {
                    rc = args_add_int(rp, "MaximumRetryAttempts", f[5].value, "rule targets put");
                }
            }
            if (f[6].value != NULL) {
                cJSON_AddStringToObject(cJSON_AddObjectToObject(t, "DeadLetterConfig"), "Arn",
                                        f[6].value);
            }
            if (f[7].value != NULL) {
                cJSON_AddStringToObject(cJSON_AddObjectToObject(t, "SqsParameters"),
                                        "MessageGroupId", f[7].value);
            }
            if (pm != NULL) {
                cJSON *tr = cJSON_AddObjectToObject(t, "InputTransformer");
                cJSON_AddItemToObject(tr, "InputPathsMap", pm);
                cJSON_AddStringToObject(tr, "InputTemplate", tr_tmpl);
                pm = NULL;
            }
            cJSON_AddItemToArray(list, t);
        }
    }
    cJSON *args = named("Rule", argv[2], f[0].value);
    cJSON_AddItemToObject(args, "Targets", list);
    if (rc == EXIT_OK) {
        rc = targets_put_call(c, args);
    }
    cJSON_Delete(pm);
    cJSON_Delete(args);
    cJSON_Delete(targets);
    return rc;
}

int cmd_rule(cli *c, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    if (strcmp(sub, "targets") == 0) {
        return rule_targets_put(c, argc - 1, argv + 1);
    }
    if (strcmp(sub, "list") == 0) {
        args_flag lf[] = {{.flag = "--bus"}};
        int lrc = args_parse_flags(argc, argv, 2, lf, 1);
        if (lrc != EXIT_OK) {
            return lrc;
        }
        cJSON *a = cJSON_CreateObject();
        if (lf[0].value != NULL) {
            cJSON_AddStringToObject(a, "EventBusName", lf[0].value);
        }
        return call_json(c, "rule-list", a, text_rules);
    }
    static const struct {
        const char *sub, *op;
    } simple[] = {{"delete", "rule-delete"},
                  {"get", "rule-get"},
                  {"enable", "rule-enable"},
                  {"disable", "rule-disable"}};
    const char *op = NULL;
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
        if (strcmp(sub, simple[i].sub) == 0) {
            op = simple[i].op;
        }
    }
    bool put = strcmp(sub, "put") == 0;
    if (!put && op == NULL) {
        return out_usage(argv[0], "expects put|list|get|delete|enable|disable|targets, got '%s'",
                         sub);
    }
    if (argc < 3 || argv[2][0] == '-') {
        return out_usage(argv[0], "%s", "missing NAME");
    }
    args_flag f[] = {{.flag = "--bus"},
                     {.flag = "--pattern"},
                     {.flag = "--disabled", .is_switch = true},
                     {.flag = "--schedule"}};
    args_flag df[] = {{.flag = "--bus"}, {.flag = "--force", .is_switch = true}};
    bool del = op != NULL && strcmp(op, "rule-delete") == 0;
    /* --pattern, --disabled, --schedule: put only; --force: delete only */
    int rc = del ? args_parse_flags(argc, argv, 3, df, 2)
                 : args_parse_flags(argc, argv, 3, f, put ? 4 : 1);
    f[0].value = del ? df[0].value : f[0].value;
    if (rc == EXIT_OK && put && (f[1].value == NULL) == (f[3].value == NULL)) {
        rc = out_usage("rule put", "%s", "takes --pattern JSON or --schedule EXPR");
    }
    if (rc != EXIT_OK) {
        return rc;
    }
    cJSON *args = named("Name", argv[2], f[0].value);
    if (del && df[1].value != NULL) {
        cJSON_AddBoolToObject(args, "Force", true);
    }
    if (put) {
        cJSON_AddStringToObject(args, f[1].value != NULL ? "EventPattern" : "ScheduleExpression",
                                f[1].value != NULL ? f[1].value : f[3].value);
        cJSON_AddStringToObject(args, "State", f[2].value != NULL ? "DISABLED" : "ENABLED");
    }
    bool get = op != NULL && strcmp(op, "rule-get") == 0;
    return call_json(c, put ? "rule-put" : op, args,
                     put   ? text_arn
                     : get ? text_fields
                           : out_nothing);
}
