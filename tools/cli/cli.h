/*
 * tools/cli/cli.h — what the files of `lamina`, the command-line client,
 * share: the exit codes, the per-run state, the command table and the
 * helpers every verb uses.
 *
 * One file per resource holds its verbs (functions.c, versions.c, invoke.c,
 * events.c, queues.c, topics.c, streams.c, esm.c, misc.c); each verb is a `cmd_<verb>`
 * handler with the signature command_fn and one row in the table in
 * commands.c, which both dispatch and the help text (main.c) read.
 * Helpers shared between verb files carry their file's prefix: out_
 * (output.c: calling the broker, printing, errors and exit codes) and
 * args_ (args.c: option parsing, message attributes, reading files and
 * stdin).  README.md in this folder says how to add a verb.
 *
 * Output rule: results on stdout (text, or the broker's JSON with -o json);
 * errors on stderr as one line (JSON with -o json); the exit code says what
 * kind of failure it was (the enum below, listed by `lamina --help`).
 */
#ifndef TOOLS_CLI_CLI_H
#define TOOLS_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <lamina/client.h>

/* Process exit codes.  Scripts depend on them: never renumber. */
enum {
    EXIT_OK = 0,
    EXIT_INTERNAL = 1,
    EXIT_USAGE = 2,
    EXIT_NOT_FOUND = 3,
    EXIT_CONFLICT = 4,
    EXIT_UNREACHABLE = 5,
    EXIT_FUNCTION_ERROR = 6,
    EXIT_FUNCTION_TIMEOUT = 7,
    EXIT_THROTTLED = 8,
    EXIT_INVALID = 9
};

/* One run of the CLI: the global options and, once a verb connected, the
 * client (main destroys it after the verb returns). */
typedef struct cli {
    const char *state;
    const char *endpoint;
    bool json;
    lm_client *client;
} cli;

/* A verb: argv[0] is the verb's name, argv[1..] its arguments.  Returns
 * the process exit code.  Prints its own result and errors. */
typedef int (*command_fn)(cli *c, int argc, char **argv);

typedef struct command {
    const char *name;
    command_fn run;
    const char *usage; /* one line, listed by `lamina --help` */
    const char *example; /* shown by `lamina VERB --help` after the usage */
    /* The verb's required first argument ("NAME"): dispatch answers
     * "missing NAME" (exit 2) when it is absent or looks like an option,
     * before the handler runs.  NULL: the handler checks its arguments. */
    const char *operand;
    bool own_help; /* the handler answers --help itself */
} command;

/* The command table (commands.c), in the order `lamina --help` lists it. */
extern const command cli_commands[];
extern const size_t cli_ncommands;

/* The table row called name, or NULL. */
const command *cli_find_command(const char *name);

/* ---- output.c: calling the broker and printing its answers ---- */

/* Print a client/broker error on stderr (JSON with -o json); returns the
 * exit code for e->code. */
int out_error(const cli *c, const lm_error *e);
/* Print "lamina CMD: <fmt with arg>" and the --help hint on stderr;
 * returns EXIT_USAGE. */
int out_usage(const char *cmd, const char *fmt, const char *arg);
/* Open c->client (kept for main to destroy); EXIT_OK or the error's code. */
int out_connect(cli *c);
/* Connect, call op with args (JSON, may be NULL) and code (may be NULL;
 * borrowed for the call), print the reply: JSON as is with -o json or when
 * text is NULL, else through text(). */
int out_call(cli *c, const char *op, cJSON *args, const void *code, size_t len,
             void (*text)(const cJSON *reply));
/* Connect and call op with args (may be NULL); on success *reply is the
 * parsed reply (the caller deletes it) and nothing is printed yet.  On
 * failure the error is printed, *reply is NULL and the exit code returned. */
int out_request(cli *c, const char *op, const cJSON *args, cJSON **reply);
/* Print a reply as out_call does: JSON with -o json or when text is NULL,
 * else through text(). */
void out_print(const cli *c, const cJSON *reply, void (*text)(const cJSON *reply));
/* The exit code for an error named by its wire type ("MessageTooLong",
 * the Code of a failed batch entry); a type not in the error table is
 * EXIT_INVALID when the sender is at fault, else EXIT_INTERNAL. */
int out_exit_for_type(const char *type, bool sender_fault);
/* A verb taking exactly one NAME: op with {"FunctionName": NAME}. */
int out_call_name(cli *c, int argc, char **argv, const char *op, void (*text)(const cJSON *reply));
/* A text printer that prints nothing (delete-like verbs). */
void out_nothing(const cJSON *reply);
/* The string member key of o, or "" (never NULL; points into o). */
const char *out_str(const cJSON *o, const char *key);
/* Every member of object o as a "Key value" line, keys padded to width
 * (strings as they are, numbers, booleans, objects and arrays as compact
 * JSON); nothing when o is NULL.  Queue and topic attributes, send's reply. */
void out_fields(const cJSON *o, int width);
/* A function configuration as "Key value" lines (create, get, update-*,
 * publish). */
void out_config(const cJSON *cfg);

/* ---- args.c: option parsing ---- */

/* Options of the form --flag VALUE into a table; value stays NULL when
 * the flag is absent and points into argv otherwise. */
typedef struct args_opt {
    const char *flag;
    const char *value;
} args_opt;

/* Parse argv[from..] as --flag VALUE pairs into opts; --env may repeat
 * (into vars when vars is non-NULL).  Returns EXIT_OK or a usage error
 * (printed). */
int args_parse(int argc, char **argv, int from, args_opt *opts, size_t nopts, cJSON *vars);

/* A richer option row (queue and topic verbs; write it with designated
 * initializers): value as in args_opt (the last one given wins);
 * is_switch: the flag takes no value and sets value to "true"; all (a
 * cJSON array the caller owns, or NULL): every VALUE of a repeatable flag
 * is appended to it as a string, in order. */
typedef struct args_flag {
    const char *flag;
    const char *value;
    bool is_switch;
    cJSON *all;
} args_flag;

/* Parse argv[from..] into flags (switches and --flag VALUE pairs).
 * Returns EXIT_OK or a usage error (printed: unknown option, unexpected
 * argument, a missing value). */
int args_parse_flags(int argc, char **argv, int from, args_flag *flags, size_t n);
/* KEY=VALUE into vars (copied); EXIT_OK or a usage error for cmd. */
int args_env(cJSON *vars, const char *kv, const char *cmd);
/* A decimal int; 0, or -1 when s is not one. */
int args_int(const char *s, int *out);
/* args[key] = v as an integer (nothing when v is NULL); EXIT_OK or a
 * usage error for cmd. */
int args_add_int(cJSON *args, const char *key, const char *v, const char *cmd);
/* --revision-id ID → RevisionId (the update happens only while the
 * function or alias is still at that revision); nothing when id is NULL. */
void args_add_revision(cJSON *args, const char *id);
/* Read all of f into a malloc'd, NUL-terminated buffer (*len: its length
 * without the NUL); NULL when out of memory.  Does not close f. */
char *args_read_stream(FILE *f, size_t *len);
/* The whole file at path ("-": stdin) as a malloc'd string the caller
 * frees, or NULL with *rc set to the usage error printed for cmd. */
char *args_read_path(const char *path, const char *cmd, int *rc);
/* How args_jsonl reads a batch file. */
typedef struct args_jsonl_spec {
    int max; /* at most this many objects */
    const char *noun, *one; /* "entries", "entry" */
    const char *shape; /* shown when a line is not an object */
    /* a line as its object, NULL if it is none (NULL: parsed as it is) */
    cJSON *(*line)(const char *s);
} args_jsonl_spec;
/* The lines of a JSONL text (blank ones skipped) as a JSON array of 1 to
 * spec->max objects, or NULL after a usage error for cmd naming the line
 * (path: the file's name in it).  Modifies text. */
cJSON *args_jsonl(char *text, const char *path, const char *cmd, const args_jsonl_spec *spec);
/* --attr NAME=TYPE:VALUE into attrs as SQS/SNS MessageAttributes:
 * attrs[NAME] = {DataType: TYPE, StringValue: VALUE} (TYPE String or
 * Number, optionally .LABEL) or {DataType, BinaryValue: VALUE} (Binary[.LABEL];
 * VALUE must be base64).  Copies; EXIT_OK or a usage error for cmd (no
 * '=', no ':', another TYPE, VALUE not base64, NAME given twice). */
int args_msg_attr(cJSON *attrs, const char *kv, const char *cmd);
/* Every string of all (the --attr values of an args_opt) into
 * args.MessageAttributes; nothing when all is empty.  EXIT_OK or a usage
 * error for cmd. */
int args_add_msg_attrs(cJSON *args, const cJSON *all, const char *cmd);

/* ---- the verbs (one file per resource) ---- */

/* functions.c */
int cmd_create(cli *c, int argc, char **argv);
int cmd_get(cli *c, int argc, char **argv);
int cmd_list(cli *c, int argc, char **argv);
int cmd_delete(cli *c, int argc, char **argv);
int cmd_update_code(cli *c, int argc, char **argv);
int cmd_update_config(cli *c, int argc, char **argv);
/* versions.c */
int cmd_publish(cli *c, int argc, char **argv);
int cmd_versions(cli *c, int argc, char **argv);
int cmd_alias(cli *c, int argc, char **argv);
/* invoke.c */
int cmd_invoke(cli *c, int argc, char **argv);
/* events.c */
int cmd_event_config(cli *c, int argc, char **argv);
int cmd_event_wait(cli *c, int argc, char **argv);
/* queues.c: queue create|list|get|set|purge|delete|send|send-batch|receive|
 * delete-message|change-visibility */
int cmd_queue(cli *c, int argc, char **argv);
/* topics.c: topic create|list|get|delete|subscribe|unsubscribe|subscriptions|
 * publish */
int cmd_topic(cli *c, int argc, char **argv);
/* streams.c: stream create|list|get|delete|put|put-batch|iterator|
 * get-records|reshard */
int cmd_stream(cli *c, int argc, char **argv);
/* esm.c: esm create|list|get|update|delete|enable|disable (event source mappings) */
int cmd_esm(cli *c, int argc, char **argv);
/* buses.c: bus create|list|delete|put-events, rule put|delete|targets put */
int cmd_bus(cli *c, int argc, char **argv);
int cmd_rule(cli *c, int argc, char **argv);
/* misc.c */
/* urls.c: url create|get|update|delete|list */
int cmd_url(cli *c, int argc, char **argv);
/* keys.c: keys create|list|delete */
int cmd_keys(cli *c, int argc, char **argv);
int cmd_status(cli *c, int argc, char **argv);
/* concurrency.c */
int cmd_concurrency(cli *c, int argc, char **argv);
int cmd_provisioned(cli *c, int argc, char **argv);
int cmd_test_pattern(cli *c, int argc, char **argv);

#endif
