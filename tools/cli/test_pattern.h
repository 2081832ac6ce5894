/* `lamina test-pattern`: implemented in test_pattern.c (needs no broker). */
#ifndef TOOLS_CLI_TEST_PATTERN_H
#define TOOLS_CLI_TEST_PATTERN_H
#include <stdio.h>
/* Run `lamina test-pattern ARGS...` (argv[0] is "test-pattern").  Returns the
 * process exit code: 0 ok (printed true/false), 2 usage, 9 pattern error. */
int cli_test_pattern(int argc, char **argv, FILE *out, FILE *err);
#endif
