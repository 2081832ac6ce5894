/*
 * tools/cli/cli.h — what the files of `lamina`, the command-line client,
 * share: the exit codes, the per-run state, the command table and the
 * helpers every verb uses.
 *
 * One file per resource holds its verbs (functions.c, versions.c, invoke.c,
 * events.c, misc.c); each verb is a `cmd_<verb>` handler with the signature
 * command_fn and one row in the table in commands.c, which both dispatch
 * and the help text (main.c) read.  Helpers shared between verb files carry
 * their file's prefix: out_ (output.c: calling the broker, printing, errors
 * and exit codes) and args_ (args.c: option parsing).  README.md in this
 * folder says how to add a verb.
 *
 * Output rule: results on stdout (text, or the broker's JSON with -o json);
 * errors on stderr as one line (JSON with -o json); the exit code says what
 * kind of failure it was (the enum below, listed by `lamina --help`).
 */
#ifndef TOOLS_CLI_CLI_H
#define TOOLS_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>

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
/* A verb taking exactly one NAME: op with {"FunctionName": NAME}. */
int out_call_name(cli *c, int argc, char **argv, const char *op, void (*text)(const cJSON *reply));
/* A text printer that prints nothing (delete-like verbs). */
void out_nothing(const cJSON *reply);
/* The string member key of o, or "" (never NULL; points into o). */
const char *out_str(const cJSON *o, const char *key);
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
/* misc.c */
int cmd_status(cli *c, int argc, char **argv);
int cmd_test_pattern(cli *c, int argc, char **argv);

#endif
