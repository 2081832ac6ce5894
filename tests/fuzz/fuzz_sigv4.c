/*
 * tests/fuzz/fuzz_sigv4.c — libFuzzer target for SigV4 verification
 * (broker/lib/sigv4.c).
 *
 * Input: lines METHOD, PATH, QUERY, then "name: value" header lines up to
 * an empty line, then the body.  Two checks per input:
 *  1. verify the request as given (whatever Authorization it carries):
 *     it must not crash, and a refusal must say why;
 *  2. sign it (with the input's own Host, X-Amz-Date and Authorization
 *     headers dropped, ours added) and verify that: it must be accepted
 *     for the right key and refused with one byte of the body changed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/sigv4.h"

static bool secret_of(void *arg, const char *id, char secret[SIGV4_SECRET_MAX + 1])
{
    (void)arg;
    if (strcmp(id, "LMAKTESTTESTTESTTEST") != 0) {
        return false;
    }
    snprintf(secret, SIGV4_SECRET_MAX + 1, "%s", "s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Tabcd");
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *lines[3] = {"GET", "/", ""};
    char *p = buf;
    for (int i = 0; i < 3 && p != NULL; i++) {
        char *nl = strchr(p, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        lines[i] = p;
        p = nl != NULL ? nl + 1 : NULL;
    }
    urlmap_header h[40];
    size_t nh = 0;
    while (p != NULL && nh < 32) {
        char *nl = strchr(p, '\n');
        if (nl == NULL || nl == p) {
            p = nl != NULL ? nl + 1 : NULL;
            break;
        }
        *nl = '\0';
        char *colon = strchr(p, ':');
        if (colon != NULL) {
            *colon = '\0';
            h[nh++] = (urlmap_header){.name = p, .value = colon + 1};
        }
        p = nl + 1;
    }
    size_t blen = p != NULL ? strlen(p) : 0; /* the body stops at a NUL here */
    int64_t now = 1796630430000; /* 2026-12-07T08:00:30Z */
    sigv4_request r = {.method = lines[0],
                       .path = lines[1],
                       .query = lines[2],
                       .headers = h,
                       .n_headers = nh,
                       .body = p,
                       .body_len = blen,
                       .service = "lambda",
                       .now_ms = now};
    sigv4_result out;
    if (!sigv4_verify(&r, secret_of, NULL, &out) && out.why[0] == '\0') {
        abort();
    }

    /* 2: our own signature over the same request */
    urlmap_header mine[40];
    size_t nm = 0;
    for (size_t i = 0; i < nh; i++) {
        if (strcasecmp(h[i].name, "host") != 0 && strcasecmp(h[i].name, "x-amz-date") != 0 &&
            strcasecmp(h[i].name, "authorization") != 0 &&
            strcasecmp(h[i].name, "x-amz-content-sha256") != 0) {
            mine[nm++] = h[i];
        }
    }
    mine[nm++] = (urlmap_header){.name = "Host", .value = "example.lambda-url.localhost"};
    mine[nm++] = (urlmap_header){.name = "X-Amz-Date", .value = "20261207T080030Z"};
    r.headers = mine;
    r.n_headers = nm;
    char sig[65], auth[400];
    /* a made-up signature first: refused, and it tells the payload hash */
    sigv4_result probe;
    mine[nm] = (urlmap_header){.name = "Authorization",
                               .value = "AWS4-HMAC-SHA256 Credential=LMAKTESTTESTTESTTEST/20261207/"
                                        "local/lambda/aws4_request, SignedHeaders=host;x-amz-date, "
                                        "Signature=00"};
    r.n_headers = nm + 1;
    if (sigv4_verify(&r, secret_of, NULL, &probe)) {
        abort(); /* a made-up signature passed */
    }
    if (!sigv4_sign(&r, "s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Tabcd", "20261207T080030Z", "local",
                    "host;x-amz-date", probe.payload_hash, sig)) {
        free(buf);
        return 0;
    }
    snprintf(auth, sizeof(auth),
             "AWS4-HMAC-SHA256 Credential=LMAKTESTTESTTESTTEST/20261207/local/lambda/"
             "aws4_request, SignedHeaders=host;x-amz-date, Signature=%s",
             sig);
    mine[nm].value = auth;
    if (probe.payload_hash[0] != '\0' && !sigv4_verify(&r, secret_of, NULL, &out)) {
        abort(); /* our own signature was refused */
    }
    if (blen > 0 && probe.payload_hash[0] != '\0') {
        p[0] ^= 1;
        if (p[0] != '\0' && sigv4_verify(&r, secret_of, NULL, &out)) {
            abort(); /* a changed body passed */
        }
    }
    free(buf);
    return 0;
}
