/*
 * tools/cli/main.c — `lamina`, the command-line client, built on the SDK's
 * client API (lamina/client.h): global options and dispatch.
 *
 *   lamina [--state DIR | --endpoint URL] [-o text|json] COMMAND [ARGS]
 *
 * main parses the global options, finds COMMAND in the command table
 * (commands.c), answers `COMMAND --help` from the table row, checks the
 * row's required operand and runs its handler; `lamina --help` (and every
 * usage error before a verb) lists the table's usage lines.  The verbs live
 * one file per resource (cli.h lists them).
 *
 * Output: results on stdout (text, or one JSON object with -o json); errors
 * on stderr as one line (JSON with -o json).  Exit codes: 0 ok, 1 internal,
 * 2 usage, 3 not found, 4 conflict (409, or 412: a --revision-id that is no
 * longer current), 5 broker unreachable, 6 function error, 7 function timed
 * out, 8 throttled, 9 invalid request.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
    }
    return false;
}

static int print_help(const command *cmd)
{
    printf("usage: lamina [--state DIR | --endpoint URL] [-o text|json] %s\n\nexample:\n  %s\n",
           cmd->usage, cmd->example);
    return EXIT_OK;
}

static int top_usage(FILE *f, int rc)
{
    fprintf(f, "usage: lamina [--state DIR | --endpoint URL] [-o text|json] COMMAND [ARGS]\n\n"
               "commands:\n");
    for (size_t i = 0; i < cli_ncommands; i++) {
        fprintf(f, "  %s\n", cli_commands[i].usage);
    }
    fprintf(f, "\n'lamina COMMAND --help' shows an example.  The broker is found at\n"
               "ipc://<state>/api.sock (state: --state, $LAMINA_STATE, else ./.lamina).\n"
               "exit codes: 0 ok, 1 internal, 2 usage, 3 not found, 4 conflict (409, or 412\n"
               "for a stale --revision-id), 5 broker unreachable, 6 function error, 7 function\n"
               "timed out, 8 throttled, 9 invalid\n");
    return rc;
}

/* The verb's argv (argv[0] is its name): help, operand check, handler. */
static int dispatch(cli *c, const command *cmd, int argc, char **argv)
{
    if (!cmd->own_help && wants_help(argc, argv)) {
        return print_help(cmd);
    }
    if (cmd->operand != NULL && (argc < 2 || argv[1][0] == '-')) {
        return out_usage(cmd->name, "missing %s", cmd->operand);
    }
    return cmd->run(c, argc, argv);
}

int main(int argc, char **argv)
{
    cli c = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return top_usage(stdout, EXIT_OK);
        }
        if (i + 1 >= argc) {
            return top_usage(stderr, EXIT_USAGE);
        }
        if (strcmp(a, "--state") == 0) {
            c.state = argv[++i];
        } else if (strcmp(a, "--endpoint") == 0) {
            c.endpoint = argv[++i];
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            const char *o = argv[++i];
            if (strcmp(o, "json") != 0 && strcmp(o, "text") != 0) {
                return top_usage(stderr, EXIT_USAGE);
            }
            c.json = strcmp(o, "json") == 0;
        } else {
            return top_usage(stderr, EXIT_USAGE);
        }
    }
    if (i >= argc) {
        return top_usage(stderr, EXIT_USAGE);
    }
    const command *cmd = cli_find_command(argv[i]);
    if (cmd == NULL) {
        fprintf(stderr, "lamina: unknown command '%s'\n", argv[i]);
        return top_usage(stderr, EXIT_USAGE);
    }
    int rc = dispatch(&c, cmd, argc - i, argv + i);
    lm_client_destroy(c.client);
    return rc;
}
