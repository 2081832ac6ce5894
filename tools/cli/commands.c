/*
 * tools/cli/commands.c — the command table: one row per verb, in the
 * order `lamina --help` lists them.  Dispatch (main.c) finds a verb here,
 * answers `VERB --help` from its usage and example, checks its required
 * operand, and calls its handler; `lamina --help` lists every usage line.
 * Adding a verb is one file with its cmd_ handler and one row here
 * (README.md).
 */
#include <stdbool.h>
#include <string.h>

#include "cli.h"

const command cli_commands[] = {
    {.name = "status", .run = cmd_status, .usage = "status", .example = "lamina status"},
    {.name = "create",
     .run = cmd_create,
     .usage = "create NAME --handler FILE.so [--timeout S] [--memory MB] [--env K=V]... "
              "[--description T]",
     .example = "lamina create hello --handler ./hello.so --timeout 5 --env GREETING=hi",
     .operand = "NAME"},
    {.name = "get",
     .run = cmd_get,
     .usage = "get NAME[:QUALIFIER]",
     .example = "lamina -o json get hello:7"},
    {.name = "list", .run = cmd_list, .usage = "list", .example = "lamina list"},
    {.name = "delete",
     .run = cmd_delete,
     .usage = "delete NAME[:VERSION]",
     .example = "lamina delete hello:3"},
    {.name = "update-code",
     .run = cmd_update_code,
     .usage = "update-code NAME --handler FILE.so [--revision-id ID]",
     .example = "lamina update-code hello --handler ./hello.so\n"
                "  --revision-id ID: only if $LATEST's RevisionId (see 'lamina get') is still ID,\n"
                "  else 412 PreconditionFailedException (exit 4) and nothing changes",
     .operand = "NAME"},
    {.name = "update-config",
     .run = cmd_update_config,
     .usage = "update-config NAME [--timeout S] [--memory MB] [--env K=V]... [--description T] "
              "[--dead-letter TARGET] [--revision-id ID]",
     .example =
         "lamina update-config hello --timeout 10 --env GREETING=hey --dead-letter queue:failed",
     .operand = "NAME"},
    {.name = "publish",
     .run = cmd_publish,
     .usage = "publish NAME [--description T] [--code-sha256 H] [--revision-id ID]",
     .example = "lamina -o json publish hello --description 'first release'\n"
                "  --revision-id ID: only if $LATEST's RevisionId is still ID (else 412, exit 4)",
     .operand = "NAME"},
    {.name = "versions",
     .run = cmd_versions,
     .usage = "versions NAME",
     .example = "lamina versions hello"},
    {.name = "alias",
     .run = cmd_alias,
     .usage = "alias create|update|get|list|delete NAME ALIAS --version V [--weight V2=W|none] "
              "[--description T] [--revision-id ID (update)]",
     .example = "lamina alias create hello live --version 1 --weight 2=0.1\n"
                "  lamina alias update hello live --version 2 --revision-id ID\n"
                "    (only if the alias's RevisionId is still ID, else 412, exit 4)"},
    {.name = "invoke",
     .run = cmd_invoke,
     .usage = "invoke NAME [PAYLOAD | -f FILE | -] [--qualifier Q] [--async "
              "[--idempotency-key KEY] | --dry-run] [--tail] [--client-context JSON]",
     .example = "lamina invoke hello '{\"name\":\"Ada\"}' --tail\n"
                "  lamina invoke hello --async '{\"name\":\"Ada\"}'\n"
                "    --async (or --event): InvocationType Event. Prints the RequestId once the\n"
                "    event is stored (202); it runs in the background, retried and sent to\n"
                "    destinations as set with 'lamina event-config'\n"
                "  lamina invoke hello --async --idempotency-key order-17 '{\"order\":17}'\n"
                "    KEY (1-128 visible ASCII characters): run again within 24 h, the same\n"
                "    request prints the first RequestId and queues nothing; another payload\n"
                "    or qualifier with the key fails (IdempotentParameterMismatch, exit 4)"},
    {.name = "event-config",
     .run = cmd_event_config,
     .usage = "event-config put|get|delete NAME [--max-retries 0-2] [--max-age 60-21600] "
              "[--on-success DEST] [--on-failure DEST]",
     .example = "lamina event-config put hello --max-retries 1 --on-failure hello-failures\n"
                "  async retries and destinations of NAME (put replaces the whole config;\n"
                "  a destination is a function (NAME, NAME:Q), a queue (queue:NAME) or a\n"
                "  topic (topic:NAME), or an ARN of one)"},
    {.name = "concurrency",
     .run = cmd_concurrency,
     .usage = "concurrency put NAME N | get NAME | delete NAME",
     .example = "lamina concurrency put hello 10\n"
                "  reserved concurrency: N environments kept for NAME and at most N invokes at\n"
                "  once (more are throttled, 429); 0 throttles every invoke and sends async\n"
                "  events straight to the failure destination.  What all functions reserve may\n"
                "  not leave less than min(100, --max-concurrency / 10) unreserved"},
    {.name = "provisioned",
     .run = cmd_provisioned,
     .usage = "provisioned put NAME:QUALIFIER N | get NAME:QUALIFIER | delete NAME:QUALIFIER | "
              "list NAME",
     .example = "lamina provisioned put hello:live 2\n"
                "  provisioned concurrency: N environments of a published version or alias\n"
                "  initialised ahead (LM_INIT run), kept warm and replaced when they die; Status\n"
                "  IN_PROGRESS until all are up, READY, or FAILED (StatusReason) if init fails"},
    {.name = "event-wait",
     .run = cmd_event_wait,
     .usage = "event-wait REQUEST_ID [--timeout 0-900]",
     .example = "lamina event-wait 3f0c1e9a-... --timeout 60\n"
                "  waits until the async event is done: finished (Success, RetriesExhausted or\n"
                "  EventAgeExceeded) and its destination's run of the record finished too;\n"
                "  prints Status Pending with what is known if --timeout seconds pass first",
     .operand = "REQUEST_ID"},
    {.name = "queue",
     .run = cmd_queue,
     .usage = "queue create|list|get|set|purge|delete|send|send-batch|receive|delete-message|"
              "change-visibility NAME ...",
     .example =
         "lamina queue create orders --visibility-timeout 60 --redrive orders-dlq:5\n"
         "  lamina queue send orders '{\"id\":17}' --attr kind=String:new\n"
         "  lamina queue receive orders --max 10 --wait 20\n"
         "  lamina queue delete-message orders RECEIPT\n"
         "sub-verbs (queue attributes: SQS's ranges and defaults, checked by the broker):\n"
         "  create NAME [--fifo] [--visibility-timeout S] [--retention S] [--delay S]\n"
         "         [--max-message-size B] [--receive-wait S] [--redrive DLQ:MAXRECEIVES]\n"
         "         [--content-based-dedup]      (a NAME ending .fifo is a FIFO queue)\n"
         "  list [--prefix P]    get NAME    purge NAME    delete NAME\n"
         "  set NAME [the attribute flags of create; --redrive none removes the policy;\n"
         "         --no-content-based-dedup]\n"
         "  send NAME BODY|- [--delay 0-900] [--attr K=TYPE:VALUE]... [--group G] [--dedup-id D]\n"
         "         TYPE: String, Number or Binary (base64 VALUE), each may end in .LABEL\n"
         "  send-batch NAME -f FILE.jsonl|-  one {\"Id\":...,\"MessageBody\":...} a line, 1-10;\n"
         "         prints each entry's result, exits with the first failure's class\n"
         "  receive NAME [--max 1-10] [--wait 0-20] [--visibility 0-43200]\n"
         "  delete-message NAME RECEIPT    change-visibility NAME RECEIPT 0-43200"},
    {.name = "topic",
     .run = cmd_topic,
     .usage = "topic create|list|get|delete|subscribe|unsubscribe|subscriptions|publish NAME ...",
     .example = "lamina topic create shop-events\n"
                "  lamina topic subscribe shop-events --queue orders --raw "
                "--filter-policy '{\"kind\":[\"new\"]}'\n"
                "  lamina topic publish shop-events '{\"id\":17}' --attr kind=String:new\n"
                "sub-verbs:\n"
                "  create NAME    list    get NAME    delete NAME    subscriptions NAME\n"
                "  subscribe NAME --function FN | --queue Q [--raw (queues only)]\n"
                "         [--filter-policy JSON] [--filter-scope attributes|body]\n"
                "  unsubscribe SUBSCRIPTION_ARN\n"
                "  publish NAME MESSAGE|- [--subject S] [--attr K=TYPE:VALUE]..."},
    {.name = "stream",
     .run = cmd_stream,
     .usage = "stream create|list|get|delete|put|put-batch|iterator|get-records|reshard NAME ...",
     .example = "lamina stream create clicks --shards 4 --retention-hours 48\n"
                "  lamina stream put clicks --partition-key user-17 '{\"page\":\"/\"}'\n"
                "  lamina stream iterator clicks shardId-000000000000 TRIM_HORIZON\n"
                "  lamina stream get-records ITERATOR --limit 100\n"
                "sub-verbs (Kinesis Data Streams' semantics, checked by the broker):\n"
                "  create NAME --shards N [--retention-hours 24-8760 (default 24)]\n"
                "  list    get NAME    delete NAME\n"
                "  put NAME --partition-key K DATA|- [--explicit-hash-key H]\n"
                "  put-batch NAME -f FILE.jsonl|-  one {\"PartitionKey\":...,\"Data\":BASE64} (or\n"
                "         \"Text\":STRING) a line, 1-500; prints each record's result\n"
                "  iterator NAME SHARD TRIM_HORIZON|LATEST|AT_SEQUENCE_NUMBER S|\n"
                "         AFTER_SEQUENCE_NUMBER S|AT_TIMESTAMP EPOCH_SECONDS  (valid 5 minutes)\n"
                "  get-records ITERATOR [--limit 1-10000]\n"
                "  reshard NAME split SHARD NEW_STARTING_HASH_KEY | merge SHARD ADJACENT_SHARD"},
    {.name = "esm",
     .run = cmd_esm,
     .usage = "esm create|list|get|update|delete|enable|disable ...",
     .example =
         "lamina esm create --function work --source queue:orders --batch-size 100 --window 5\n"
         "  lamina esm create --function work --source stream:clicks --starting-position LATEST\n"
         "         --max-retries 3 --bisect --on-failure queue:failed\n"
         "  lamina esm get 6f1c...    lamina esm disable 6f1c...\n"
         "sub-verbs (event source mappings: Lambda's ranges and defaults, checked by the broker):\n"
         "  create --function FN --source queue:NAME|stream:NAME|ARN [--batch-size N]\n"
         "         [--window S] [--filter JSON]... [--starting-position TRIM_HORIZON|LATEST|\n"
         "         AT_TIMESTAMP --starting-timestamp T] [--max-retries N] [--max-record-age S]\n"
         "         [--bisect] [--parallelization N] [--report-batch-item-failures]\n"
         "         [--on-failure queue:Q|topic:T] [--max-concurrency N] [--disabled]\n"
         "  update UUID [the flags of create but --source and --starting-*; --no-filters,\n"
         "         --enabled]\n"
         "  list [--function FN] [--source S]    get|delete|enable|disable UUID"},
    {.name = "bus",
     .run = cmd_bus,
     .usage = "bus create|list|get|delete|put-events|tail|archive|replay ...",
     .example = "lamina bus create app\n"
                "  lamina bus put-events --bus app --entry "
                "'{\"Source\":\"shop\",\"DetailType\":\"Order\",\"Detail\":{\"n\":1}}'\n"
                "sub-verbs:\n"
                "  create NAME    list    get NAME    delete NAME\n"
                "  put-events [--bus B] (-f EVENTS.jsonl|- | --entry JSON)...  (1-10 entries)\n"
                "  tail NAME [--count N]  (events from now on, a JSON line each; best-effort)\n"
                "  archive create NAME --bus B [--pattern JSON] [--retention-days N]\n"
                "         [--description TEXT]  (N 0: forever, the default)\n"
                "  archive list [--bus B]    archive get NAME    archive delete NAME\n"
                "  replay ARCHIVE --from T --to T [--rules R1,R2] [--name REPLAY]\n"
                "         (T: RFC 3339 UTC or epoch seconds)\n"
                "  replay list    replay get REPLAY"},
    {.name = "rule",
     .run = cmd_rule,
     .usage = "rule put|list|get|delete|enable|disable|targets NAME ...",
     .example = "lamina rule put orders --bus app --pattern '{\"source\":[\"shop\"]}'\n"
                "  lamina rule targets put orders --bus app --target q=arn:aws:sqs:x:1:orders\n"
                "sub-verbs:\n"
                "  put NAME --pattern JSON [--bus B] [--disabled]    list [--bus B]\n"
                "  get|enable|disable NAME [--bus B]    delete NAME [--bus B] [--force]\n"
                "  targets list RULE [--bus B]    targets remove RULE --id ID... [--bus B]\n"
                "  targets put RULE [--bus B] --target ID=ARN [--input JSON | --input-path PATH |\n"
                "         --input-transformer PATHS_MAP TEMPLATE] [--max-age 60-86400]\n"
                "         [--max-retries 0-185] [--dlq QUEUE_ARN] [--message-group-id G]"},
    {.name = "url",
     .run = cmd_url,
     .usage = "url create|get|update|delete|list NAME[:ALIAS] ...",
     .example =
         "lamina url create hello --auth-type NONE --cors-allow-origins '*'\n"
         "  curl \"$(lamina -o json url get hello | jq -r .FunctionUrl)\"\n"
         "sub-verbs (served when the broker runs with --http HOST:PORT):\n"
         "  create NAME --auth-type NONE|AWS_IAM [--qualifier $LATEST|ALIAS] [--invoke-mode "
         "BUFFERED]\n"
         "         [--cors-allow-origins L] [--cors-allow-methods L] [--cors-allow-headers L]\n"
         "         [--cors-expose-headers L] [--cors-max-age 0-86400] [--cors-allow-credentials]\n"
         "  update NAME (the same options; --no-cors drops Cors)    get|delete NAME    list NAME\n"
         "  (L is a comma-separated list; AWS_IAM URLs take SigV4 by 'lamina keys')"},
    {.name = "keys",
     .run = cmd_keys,
     .usage = "keys create [--description T] | list | delete ACCESS_KEY_ID",
     .example = "lamina keys create --description ci\n"
                "  curl --aws-sigv4 aws:amz:local:lambda --user ID:SECRET \"$URL\"   "
                "(an AWS_IAM function URL)"},
    {.name = "test-pattern",
     .run = cmd_test_pattern,
     .usage = "test-pattern PATTERN EVENT | test-pattern --jsonl FILE",
     .example = "lamina test-pattern '{\"source\":[\"shop\"]}' '{\"source\":\"shop\"}'",
     .own_help = true /* its help is its usage (test_pattern.c) */},
};

const size_t cli_ncommands = sizeof(cli_commands) / sizeof(cli_commands[0]);

const command *cli_find_command(const char *name)
{
    for (size_t i = 0; i < cli_ncommands; i++) {
        if (strcmp(cli_commands[i].name, name) == 0) {
            return &cli_commands[i];
        }
    }
    return NULL;
}
