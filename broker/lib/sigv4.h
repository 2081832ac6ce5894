/*
 * broker/lib/sigv4.h — AWS Signature Version 4 verification (the
 * AWS4-HMAC-SHA256 Authorization header), for function URLs with AuthType
 * AWS_IAM and the Lambda REST API.
 *
 * Pure: the caller gives the request as received and a way to find an
 * access key's secret; nothing here touches the broker.  Every input is
 * untrusted (tests/fuzz/fuzz_sigv4.c drives it).  Hashes and HMACs are
 * mbedtls's; the signature is compared in constant time.
 */
#ifndef BROKER_LIB_SIGV4_H
#define BROKER_LIB_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "urlmap.h" /* urlmap_header */

#define SIGV4_SKEW_MS (5 * 60 * 1000) /* SigV4's clock-skew window, either way */
#define SIGV4_KEY_ID_MAX 128
#define SIGV4_SECRET_MAX 128

/* The secret of access key id (NUL-terminated, into secret, at most
 * SIGV4_SECRET_MAX bytes); false when there is no such key. */
typedef bool (*sigv4_secret_fn)(void *arg, const char *key_id, char secret[SIGV4_SECRET_MAX + 1]);

typedef struct sigv4_request {
    const char *method;
    const char *path; /* raw, as sent (still %-encoded) */
    const char *query; /* raw, without '?', "" when none */
    const urlmap_header *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    const char *service; /* the service the signature must name: "lambda" */
    int64_t now_ms; /* wall clock */
} sigv4_request;

typedef struct sigv4_result {
    char key_id[SIGV4_KEY_ID_MAX + 1]; /* the access key that signed it */
    char region[64];
    char why[160]; /* on refusal: the reason, for the broker's log (not the client) */
    char signed_headers[1024]; /* as the request named them (for a debug log) */
    char payload_hash[65];
} sigv4_result;

/* Verify r's signature.  true: signed by out->key_id within the window;
 * false: out->why says why (no or malformed Authorization, another
 * algorithm or service, a date outside SIGV4_SKEW_MS or not matching the
 * scope, an unknown key, host not signed, a payload hash that does not
 * match the body, a wrong signature). */
bool sigv4_verify(const sigv4_request *r, sigv4_secret_fn secret, void *arg, sigv4_result *out);

/* The canonical request of SigV4 for r with the given signed header names
 * (';'-separated, lower-case) and payload hash; malloc'd, NULL on ENOMEM.
 * Exposed for tests. */
char *sigv4_canonical_request(const sigv4_request *r, const char *signed_headers,
                              const char *payload_hash);

/* Sign: the hex signature of r for key_id/secret at amz_date
 * ("20261207T101500Z") in region, over signed_headers (exposed so tests
 * and tools can produce signatures the verifier accepts).  false on
 * ENOMEM. */
bool sigv4_sign(const sigv4_request *r, const char *secret, const char *amz_date,
                const char *region, const char *signed_headers, const char *payload_hash,
                char sig[65]);

#endif
