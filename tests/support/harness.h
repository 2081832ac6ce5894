/*
 * tests/support/harness.h — start a real broker on a temporary state dir and
 * talk to it through the real sockets.  Used by every integration suite.
 *
 * Paths come from the environment meson sets for tests (tests/support/meson.build):
 * LAMINA_BROKER_BIN, LAMINA_RUNTIME, LAMINA_CLI_BIN, LAMINA_HANDLER_DIR.
 */
#ifndef TESTS_SUPPORT_HARNESS_H
#define TESTS_SUPPORT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <lamina/client.h>

typedef struct lt_broker {
    char state[256]; /* temporary state dir (removed by lt_broker_stop) */
    pid_t pid; /* broker process, 0 when stopped */
    lm_client *client;
} lt_broker;

/* Start lamina-broker on a fresh temporary state dir with extra arguments
 * (NULL-terminated list, may be NULL) and connect a client.  Aborts the
 * test (cr_assert) on failure.  Waits for the api socket, never sleeps a
 * fixed time. */
void lt_broker_start(lt_broker *b, const char *const *extra_args);
/* Same, on an existing state dir (restart). */
void lt_broker_start_in(lt_broker *b, const char *state, const char *const *extra_args);
/* SIGTERM the broker, wait for it, assert it exited 0 and left no worker
 * processes behind.  keep_state: do not remove the state dir. */
void lt_broker_stop(lt_broker *b, bool keep_state);
/* SIGKILL the broker (crash), wait for it. */
void lt_broker_kill(lt_broker *b);

/* extra_args for a broker with the test clock: lt_broker_start(&b,
 * lt_test_clock).  Combined with other options, list "--test-clock" among
 * them.  The offset is kept in the state dir, so restart with it too. */
extern const char *const lt_test_clock[];
/* Move the broker's time forward by ms (clock-advance; the broker must run
 * with --test-clock) and return the new broker time (epoch ms).  Every
 * thread waiting on broker time has been woken when it returns; what it
 * then does (start a due retry, expire a key) is still to be awaited.
 * Asserts success. */
int64_t lt_clock_advance(lt_broker *b, int64_t ms);

/* Absolute path of a test handler .so (tests/handlers/NAME.c). */
const char *lt_handler(const char *name);

/* Create function `name` from test handler `handler` with extra JSON fields
 * (e.g. "\"Timeout\":1") or NULL.  Asserts success. */
void lt_create(lt_broker *b, const char *name, const char *handler, const char *extra_json);

/* Invoke synchronously with a payload string (NULL = "{}").  Returns the
 * lm_err code; *r holds the result on 0. */
int lt_invoke(lt_broker *b, const char *function, const char *payload, lm_invoke_result *r,
              lm_error *err);

/* Run a command (argv, NULL-terminated) with LAMINA_STATE=b->state, capture
 * stdout and stderr (malloc'd, NUL-terminated) and return the exit status. */
int lt_run(lt_broker *b, const char *const *argv, char **out, char **err);

/* Call api op with args (JSON text); the reply parsed into *out (may be
 * NULL; NULL on an error).  e may be NULL.  Returns the lm_err code. */
int lt_call(lt_broker *b, const char *op, const char *args, cJSON **out, lm_error *e);

/* lt_call with printf-formatted args (at most 8 KiB); asserts LM_OK and a
 * JSON reply, which the caller deletes. */
cJSON *lt_ok(lt_broker *b, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Decode base64 (a LogResult) into a malloc'd, NUL-terminated string;
 * *len (if non-NULL) gets its length.  Asserts the input is base64. */
char *lt_unbase64(const char *in, size_t *len);
/* base64 of NUL-terminated s into out (room for 4 * ceil(strlen(s) / 3) + 1). */
void lt_base64(const char *s, char *out);
/* The same for n bytes of data (out: room for 4 * ceil(n / 3) + 1). */
void lt_base64_n(const void *data, size_t n, char *out);

/* Poll cond(arg) every few ms until it is true or timeout_ms passes. */
bool lt_wait_until(bool (*cond)(void *), void *arg, int timeout_ms);

/* fn's function log ($STATE/logs/FN.log) as a malloc'd string, "" when
 * there is none yet. */
char *lt_function_log(lt_broker *b, const char *fn);

/* How many times needle occurs in hay (overlaps counted). */
int lt_count(const char *hay, const char *needle);

/* Wait (30 s at most, else fail the test showing the log) until fn's log
 * holds needle at least `times` times. */
void lt_await_log(lt_broker *b, const char *fn, const char *needle, int times);

/* Children of a pid (from /proc), to check for orphans and worker counts. */
int lt_count_processes_named(const char *comm);

#endif
