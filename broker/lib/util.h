/*
 * broker/lib/util.h — small helpers with no broker state: ids (uuid4,
 * random hex), ISO 8601 time, SHA-256 (mbedtls), base64, durable file
 * writes, name checks and a stored Environment.Variables decoder.  The
 * clocks are lib/clock.h's.
 */
#ifndef BROKER_LIB_UTIL_H
#define BROKER_LIB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* n random bytes from getrandom (aborts when there is no entropy). */
void util_random_bytes(void *p, size_t n);
void util_uuid4(char out[37]);
/* %-decode s[0..n) into out (room for n + 1 bytes; NUL-terminated): the
 * decoded length, or -1 when strict and an escape is broken or decodes to
 * NUL.  Not strict, a broken escape is kept as sent. */
ssize_t util_pct_decode(const char *s, size_t n, char *out, bool strict);
void util_random_hex(char *out, size_t nbytes); /* out gets 2*nbytes+1 */
void util_iso8601_now(char *out, size_t cap);
int util_sha256_hex(const void *p, size_t n, char out[65]);
char *util_base64(const void *p, size_t n); /* malloc'd */
int util_mkdir_p(const char *path, mode_t mode);
/* Write data to path atomically: tmp file, fsync, rename, fsync dir. */
int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
bool util_valid_function_name(const char *s, size_t n);
bool util_all_digits(const char *s); /* non-empty and only 0-9 */
/* A stored Environment.Variables JSON object (fn_config.env_json) as
 * (key, value) pairs, in order: only string values under keys that
 * proto_env_key_problem() accepts; anything else is skipped.  *n gets the
 * count; NULL on ENOMEM.  Free with util_env_free(v, n). */
typedef struct util_env_var {
    char *key, *value;
} util_env_var;
util_env_var *util_env_from_json(const char *json, size_t *n);
void util_env_free(util_env_var *v, size_t n);

#endif
