/*
 * Integration: the `lamina queue` and `lamina topic` verbs' own checks —
 * the usage errors the CLI answers before it talks to a broker (exit 2,
 * one message on stderr naming the problem, nothing on stdout).
 *
 * The suite runs the real binary on an empty state dir with no broker
 * behind it: an argument the CLI wrongly let through would go on to
 * connect and fail with exit 5 (broker unreachable), so every expectation
 * of exit 2 here also proves nothing was sent.  What the broker answers
 * to queue and topic ops (typed errors, replies) is tested with a real
 * broker elsewhere.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static lt_broker nob; /* only its state dir: no broker runs there */
static char batch_path[300];

static void up(void)
{
    snprintf(nob.state, sizeof(nob.state), "/tmp/lt-cliq-XXXXXX");
    cr_assert_not_null(mkdtemp(nob.state));
    snprintf(batch_path, sizeof(batch_path), "%s/batch.jsonl", nob.state);
}
static void down(void)
{
    unlink(batch_path);
    rmdir(nob.state);
}

TestSuite(cli_queue, .init = up, .fini = down, .timeout = 30);

static const char *cli_bin(void)
{
    const char *p = getenv("LAMINA_CLI_BIN");
    return p != NULL ? p : "build/tools/lamina";
}

/* `lamina ARGS...` must be a usage error: exit 2, stderr names the problem
 * (holds want), stdout empty. */
#define USAGE(want, ...)                                                                     \
    do {                                                                                     \
        const char *argv_[] = {cli_bin(), __VA_ARGS__, NULL};                                \
        char *o_ = NULL, *e_ = NULL;                                                         \
        int rc_ = lt_run(&nob, argv_, &o_, &e_);                                             \
        cr_expect_eq(rc_, 2, "%s %s ...: exit %d, stderr: %s", argv_[1], argv_[2], rc_, e_); \
        cr_expect_not_null(strstr(e_, want), "%s %s ...: stderr lacks '%s': %s", argv_[1],   \
                           argv_[2], want, e_);                                              \
        cr_expect_str_empty(o_, "%s %s ...: stdout: %s", argv_[1], argv_[2], o_);            \
        free(o_);                                                                            \
        free(e_);                                                                            \
    } while (0)

/* FILE = text, for send-batch. */
static void write_batch(const char *text)
{
    FILE *f = fopen(batch_path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(cli_queue, every_sub_verb_without_its_name_is_a_usage_error)
{
    const char *subs[] = {"create", "get",        "set",     "purge",          "delete",
                          "send",   "send-batch", "receive", "delete-message", "change-visibility"};
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        USAGE("missing NAME", "queue", subs[i]);
        USAGE("missing NAME", "queue", subs[i], "--max", "1"); /* an option is not a NAME */
    }
    const char *tsubs[] = {"create", "get", "delete", "subscribe", "subscriptions", "publish"};
    for (size_t i = 0; i < sizeof(tsubs) / sizeof(tsubs[0]); i++) {
        USAGE("missing NAME", "topic", tsubs[i]);
    }
    USAGE("missing SUBSCRIPTION_ARN", "topic", "unsubscribe");
    USAGE("expects create|list|get|set", "queue");
    USAGE("expects create|list|get|set", "queue", "frobnicate", "q");
    USAGE("expects create|list|get|delete|subscribe", "topic", "frobnicate", "t");
}

Test(cli_queue, missing_operands_after_the_name_are_usage_errors)
{
    USAGE("missing BODY", "queue", "send", "q");
    USAGE("missing BODY", "queue", "send", "q", "--delay", "1");
    USAGE("missing RECEIPT", "queue", "delete-message", "q");
    USAGE("missing RECEIPT or SECONDS", "queue", "change-visibility", "q", "RH");
    USAGE("SECONDS takes an integer 0-43200", "queue", "change-visibility", "q", "RH", "43201");
    USAGE("missing -f FILE.jsonl", "queue", "send-batch", "q");
    USAGE("missing MESSAGE", "topic", "publish", "t");
    USAGE("unexpected argument 'extra'", "queue", "get", "q", "extra");
    USAGE("unexpected argument 'extra'", "topic", "list", "extra");
}

Test(cli_queue, redrive_needs_a_queue_and_a_count_after_a_colon)
{
    USAGE("--redrive takes DLQ:MAXRECEIVES", "queue", "create", "q", "--redrive", "dlq");
    USAGE("--redrive takes DLQ:MAXRECEIVES", "queue", "create", "q", "--redrive", "dlq:");
    USAGE("--redrive takes DLQ:MAXRECEIVES", "queue", "create", "q", "--redrive", "dlq:0");
    USAGE("--redrive takes DLQ:MAXRECEIVES", "queue", "create", "q", "--redrive", ":5");
    USAGE("--redrive takes DLQ:MAXRECEIVES", "queue", "set", "q", "--redrive",
          "arn:lamina:sqs:local:000000000000:dlq");
    USAGE("--redrive none is for 'queue set'", "queue", "create", "q", "--redrive", "none");
}

Test(cli_queue, attribute_flags_take_whole_numbers_and_fifo_needs_a_fifo_name)
{
    USAGE("whole numbers, not 'soon'", "queue", "create", "q", "--visibility-timeout", "soon");
    USAGE("whole numbers, not '-1'", "queue", "set", "q", "--retention", "-1");
    USAGE("a FIFO queue's name ends in .fifo", "queue", "create", "orders", "--fifo");
    USAGE("--fifo is for 'queue create'", "queue", "set", "orders.fifo", "--fifo");
    USAGE("--no-content-based-dedup is for 'queue set'", "queue", "create", "q",
          "--no-content-based-dedup");
    USAGE("unknown option '--colour'", "queue", "create", "q", "--colour", "red");
    USAGE("option '--delay' needs a value", "queue", "create", "q", "--delay");
}

Test(cli_queue, receive_and_send_parameters_have_sqs_ranges)
{
    USAGE("--max takes an integer 1-10, not '11'", "queue", "receive", "q", "--max", "11");
    USAGE("--max takes an integer 1-10, not '0'", "queue", "receive", "q", "--max", "0");
    USAGE("--wait takes an integer 0-20, not '21'", "queue", "receive", "q", "--wait", "21");
    USAGE("--visibility takes an integer 0-43200", "queue", "receive", "q", "--visibility", "x");
    USAGE("--delay takes an integer 0-900, not '901'", "queue", "send", "q", "hi", "--delay",
          "901");
}

Test(cli_queue, attr_needs_name_type_and_value)
{
    USAGE("--attr takes NAME=TYPE:VALUE", "queue", "send", "q", "hi", "--attr", "color");
    USAGE("--attr takes NAME=TYPE:VALUE", "queue", "send", "q", "hi", "--attr", "=String:x");
    USAGE("--attr takes NAME=TYPE:VALUE", "queue", "send", "q", "hi", "--attr", "color=red");
    USAGE("--attr TYPE is String, Number or Binary", "queue", "send", "q", "hi", "--attr",
          "color=Text:red");
    USAGE("--attr TYPE is String, Number or Binary", "queue", "send", "q", "hi", "--attr",
          "n=Number.:1");
    USAGE("takes a base64 VALUE", "queue", "send", "q", "hi", "--attr", "b=Binary:not*base64");
    USAGE("--attr 'k' given twice", "queue", "send", "q", "hi", "--attr", "k=String:a", "--attr",
          "k=String:b");
    USAGE("--attr takes NAME=TYPE:VALUE", "topic", "publish", "t", "hi", "--attr", "color");
}

Test(cli_queue, send_batch_takes_one_to_ten_json_objects)
{
    char eleven[512] = "";
    for (int i = 0; i < 11; i++) {
        char line[64];
        snprintf(line, sizeof(line), "{\"Id\":\"m%d\",\"MessageBody\":\"b\"}\n", i);
        strcat(eleven, line);
    }
    write_batch(eleven);
    USAGE("line 11 of", "queue", "send-batch", "q", "-f", batch_path);
    USAGE("at most 10 entries", "queue", "send-batch", "q", "-f", batch_path);
    write_batch("{\"Id\":\"a\",\"MessageBody\":\"b\"}\nnot json\n");
    USAGE("line 2 of", "queue", "send-batch", "q", "-f", batch_path);
    USAGE("is not a JSON object", "queue", "send-batch", "q", "-f", batch_path);
    write_batch("{\"Id\":\"a\",\"MessageBody\":\"b\"} trailing\n");
    USAGE("line 1 of", "queue", "send-batch", "q", "-f", batch_path);
    write_batch("[1,2]\n");
    USAGE("line 1 of", "queue", "send-batch", "q", "-f", batch_path);
    write_batch("\n  \n");
    USAGE("holds no entries", "queue", "send-batch", "q", "-f", batch_path);
    USAGE("cannot open", "queue", "send-batch", "q", "-f", "/nonexistent/batch.jsonl");
    /* stream put-batch reads its file the same way, with its own bounds */
    static char many[501 * 40 + 1];
    many[0] = '\0';
    for (int i = 0; i < 501; i++) {
        strcat(many, "{\"PartitionKey\":\"k\",\"Text\":\"x\"}\n");
    }
    write_batch(many);
    USAGE("line 501 of", "stream", "put-batch", "s", "-f", batch_path);
    USAGE("is record 501: a batch holds at most 500 records", "stream", "put-batch", "s", "-f",
          batch_path);
    write_batch("{\"PartitionKey\":\"k\",\"Text\":\"x\"}\n[1]\n");
    USAGE("line 2 of", "stream", "put-batch", "s", "-f", batch_path);
    write_batch("\n");
    USAGE("holds no records (one JSON object a line, 1-500)", "stream", "put-batch", "s", "-f",
          batch_path);
}

Test(cli_queue, subscribe_takes_one_endpoint_and_a_valid_filter)
{
    USAGE("takes one endpoint", "topic", "subscribe", "t");
    USAGE("takes one endpoint", "topic", "subscribe", "t", "--function", "f", "--queue", "q");
    USAGE("--raw is for --queue subscriptions", "topic", "subscribe", "t", "--function", "f",
          "--raw");
    USAGE("--filter-policy takes a JSON object", "topic", "subscribe", "t", "--queue", "q",
          "--filter-policy", "[\"a\"]");
    USAGE("--filter-policy takes a JSON object", "topic", "subscribe", "t", "--queue", "q",
          "--filter-policy", "{nope");
    USAGE("--filter-policy takes a JSON object", "topic", "subscribe", "t", "--queue", "q",
          "--filter-policy", "{\"a\":[\"b\"]} {}");
    USAGE("--filter-scope takes attributes or body", "topic", "subscribe", "t", "--queue", "q",
          "--filter-scope", "headers");
}

Test(cli_queue, each_sub_verb_answers_help_with_an_example)
{
    const char *argv_[][3] = {{"queue", "--help", NULL},
                              {"queue", "receive", "--help"},
                              {"topic", "--help", NULL},
                              {"topic", "subscribe", "--help"}};
    for (size_t i = 0; i < 4; i++) {
        const char *argv[] = {cli_bin(), argv_[i][0], argv_[i][1], argv_[i][2], NULL};
        char *out = NULL, *err = NULL;
        cr_assert_eq(lt_run(&nob, argv, &out, &err), 0, "%s %s: %s", argv[1], argv[2], err);
        cr_expect_not_null(strstr(out, "example:"), "%s", out);
        cr_expect_not_null(
            strstr(out, argv_[i][0][0] == 'q' ? "lamina queue receive" : "lamina topic subscribe"),
            "%s", out);
        free(out);
        free(err);
    }
}
