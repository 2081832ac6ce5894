/*
 * broker/lib/sigv4.c — AWS Signature Version 4 verification (sigv4.h).
 *
 * The canonical request follows AWS's rules for every service but S3, as
 * botocore builds it:
 *   METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
 *   SignedHeaders \n HashedPayload
 * - CanonicalURI: the path as sent, URI-encoded once more (every byte but
 *   A-Z a-z 0-9 - _ . ~ and '/' becomes %XX, so a "%3A" sent is "%253A"
 *   here); an empty path is "/".
 * - CanonicalQuery: each name=value %-decoded and re-encoded strictly
 *   (upper-case hex, a space is %20), sorted by name then value, a bare
 *   name is "name=".
 * - CanonicalHeaders: for each SignedHeaders name in the order given,
 *   "name:value\n" with the values of every header of that name joined by
 *   ',', each trimmed and with runs of spaces collapsed.
 * - HashedPayload: x-amz-content-sha256 when sent (UNSIGNED-PAYLOAD, or a
 *   hex SHA-256 that must equal the body's), else the body's SHA-256.
 * Then StringToSign = "AWS4-HMAC-SHA256\n" amz-date "\n" scope "\n"
 * hex(SHA-256(canonical request)), and the key is HMAC("AWS4" secret,
 * date, region, service, "aws4_request").
 *
 * What the verifier insists on (a refusal names the first that fails):
 * the algorithm AWS4-HMAC-SHA256; Credential, SignedHeaders and Signature
 * each once; a scope of KEY/YYYYMMDD/REGION/<service>/aws4_request whose
 * date is the x-amz-date's; x-amz-date within 5 minutes of now (so a
 * replay is good for at most that long); host and x-amz-date among the
 * signed headers, and every signed header present.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/md.h>
#include <mbedtls/sha256.h>

#include "sigv4.h"
#include "util.h"

/* ---- a growing string ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        while (cap < b->n + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static char *sb_take(sbuf *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    if (b->p == NULL) {
        return strdup("");
    }
    return b->p;
}

/* ---- encoding ---- */

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static void sb_encode(sbuf *b, const char *s, size_t n, bool keep_slash)
{
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            sb_add(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hx[c >> 4], hx[c & 15]};
            sb_add(b, e, 3);
        }
    }
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    mbedtls_sha256_ret(p, n, d, 0);
    hex(d, 32, out);
}

static bool hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, klen,
                           (const unsigned char *)msg, strlen(msg), out) == 0;
}

/* ---- the canonical request ---- */

typedef struct qpair {
    char *k, *v; /* encoded */
} qpair;

static int qcmp(const void *a, const void *b)
{
    const qpair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c != 0 ? c : strcmp(x->v, y->v);
}

static char *enc_component(const char *s, size_t n)
{
    char *dec = malloc(n + 1);
    if (dec == NULL) {
        return NULL;
    }
    size_t dn = (size_t)util_pct_decode(s, n, dec, false); /* never -1 when not strict */
    sbuf b = {0};
    sb_encode(&b, dec, dn, false);
    free(dec);
    return sb_take(&b);
}

static void add_query(sbuf *b, const char *q)
{
    size_t cap = 1;
    for (const char *p = q; *p != '\0'; p++) {
        cap += *p == '&';
    }
    qpair *pairs = calloc(cap, sizeof(*pairs));
    size_t n = 0;
    if (pairs == NULL) {
        b->oom = true;
        return;
    }
    const char *p = q;
    while (*p != '\0' && n < cap) {
        size_t len = strcspn(p, "&");
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t kl = eq != NULL ? (size_t)(eq - p) : len;
            pairs[n].k = enc_component(p, kl);
            pairs[n].v = eq != NULL ? enc_component(eq + 1, len - kl - 1) : strdup("");
            if (pairs[n].k == NULL || pairs[n].v == NULL) {
                b->oom = true;
            }
            n++;
        }
        p += len;
        if (*p == '&') {
            p++;
        }
    }
    if (!b->oom) {
        qsort(pairs, n, sizeof(*pairs), qcmp);
        for (size_t i = 0; i < n; i++) {
            if (i > 0) {
                sb_str(b, "&");
            }
            sb_str(b, pairs[i].k);
            sb_str(b, "=");
            sb_str(b, pairs[i].v);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(pairs[i].k);
        free(pairs[i].v);
    }
    free(pairs);
}

/* Every value of header name (case-insensitive), trimmed, spaces
 * collapsed, joined by ','.  Returns how many there were. */
static int add_header_values(sbuf *b, const sigv4_request *r, const char *name, size_t nl)
{
    int found = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        const char *h = r->headers[i].name;
        if (strlen(h) != nl || strncasecmp(h, name, nl) != 0) {
            continue;
        }
        if (found++ > 0) {
            sb_str(b, ",");
        }
        const char *v = r->headers[i].value;
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        size_t vn = strlen(v);
        while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) {
            vn--;
        }
        bool space = false;
        for (size_t k = 0; k < vn; k++) {
            bool sp = v[k] == ' ' || v[k] == '\t';
            if (sp && space) {
                continue;
            }
            space = sp;
            sb_add(b, sp ? " " : v + k, 1);
        }
    }
    return found;
}

static char *canonical(const sigv4_request *r, const char *signed_headers, const char *payload_hash,
                       bool *missing)
{
    sbuf b = {0};
    *missing = false;
    for (const char *m = r->method; *m != '\0'; m++) {
        char c = (char)toupper((unsigned char)*m);
        sb_add(&b, &c, 1);
    }
    sb_str(&b, "\n");
    if (r->path[0] == '\0') {
        sb_str(&b, "/");
    } else {
        sb_encode(&b, r->path, strlen(r->path), true);
    }
    sb_str(&b, "\n");
    add_query(&b, r->query);
    sb_str(&b, "\n");
    const char *p = signed_headers;
    while (*p != '\0') {
        size_t n = strcspn(p, ";");
        char lower[128];
        if (n == 0 || n >= sizeof(lower)) {
            *missing = true;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            lower[i] = (char)tolower((unsigned char)p[i]);
        }
        lower[n] = '\0';
        sb_str(&b, lower);
        sb_str(&b, ":");
        if (add_header_values(&b, r, lower, n) == 0) {
            *missing = true;
        }
        sb_str(&b, "\n");
        p += n;
        if (*p == ';') {
            p++;
        }
    }
    sb_str(&b, "\n");
    sb_str(&b, signed_headers);
    sb_str(&b, "\n");
    sb_str(&b, payload_hash);
    return sb_take(&b);
}

char *sigv4_canonical_request(const sigv4_request *r, const char *signed_headers,
                              const char *payload_hash)
{
    bool missing;
    return canonical(r, signed_headers, payload_hash, &missing);
}

/* The signature for a canonical request (sig: 64 hex + NUL). */
static bool sign_canonical(const char *creq, const char *secret, const char *amz_date,
                           const char *region, const char *service, char sig[65])
{
    char date[9], scope[160], chash[65];
    snprintf(date, sizeof(date), "%.8s", amz_date);
    snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, region, service);
    sha256_hex(creq, strlen(creq), chash);
    size_t stsn = 32 + strlen(amz_date) + strlen(scope) + 64;
    char *sts = malloc(stsn);
    if (sts == NULL) {
        return false;
    }
    snprintf(sts, stsn, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, chash);
    char k0[SIGV4_SECRET_MAX + 8];
    int kn = snprintf(k0, sizeof(k0), "AWS4%s", secret);
    unsigned char k1[32], k2[32], k3[32], k4[32], s[32];
    bool ok = kn > 0 && (size_t)kn < sizeof(k0) && hmac(k0, (size_t)kn, date, k1) &&
              hmac(k1, 32, region, k2) && hmac(k2, 32, service, k3) &&
              hmac(k3, 32, "aws4_request", k4) && hmac(k4, 32, sts, s);
    free(sts);
    memset(k0, 0, sizeof(k0));
    if (ok) {
        hex(s, 32, sig);
    }
    return ok;
}

bool sigv4_sign(const sigv4_request *r, const char *secret, const char *amz_date,
                const char *region, const char *signed_headers, const char *payload_hash,
                char sig[65])
{
    char *creq = sigv4_canonical_request(r, signed_headers, payload_hash);
    bool ok = creq != NULL && sign_canonical(creq, secret, amz_date, region, r->service, sig);
    free(creq);
    return ok;
}

/* ---- verification ---- */

static bool refuse(sigv4_result *out, const char *why)
{
    snprintf(out->why, sizeof(out->why), "%s", why);
    return false;
}

static const char *header1(const sigv4_request *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) {
            return r->headers[i].value;
        }
    }
    return NULL;
}

/* "20261207T101500Z" to epoch ms, or -1. */
static int64_t amz_time(const char *s)
{
    struct tm tm = {0};
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') {
        return -1;
    }
    for (int i = 0; i < 15; i++) {
        if (i != 8 && !isdigit((unsigned char)s[i])) {
            return -1;
        }
    }
    tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
    tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
    tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
    tm.tm_hour = (s[9] - '0') * 10 + (s[10] - '0');
    tm.tm_min = (s[11] - '0') * 10 + (s[12] - '0');
    tm.tm_sec = (s[13] - '0') * 10 + (s[14] - '0');
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60) {
        return -1;
    }
    return (int64_t)timegm(&tm) * 1000;
}

/* The value of "Key=" in the Authorization's list (copied into out), once
 * exactly; false if absent, repeated or too long. */
static bool auth_field(const char *a, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    int seen = 0;
    const char *p = a;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t n = strcspn(p, ",");
        while (n > 0 && p[n - 1] == ' ') {
            n--;
        }
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            if (++seen > 1 || n - kl - 1 >= cap) {
                return false;
            }
            memcpy(out, p + kl + 1, n - kl - 1);
            out[n - kl - 1] = '\0';
        }
        p += n;
        while (*p != '\0' && *p != ',') {
            p++;
        }
    }
    return seen == 1;
}

static bool listed(const char *list, const char *name)
{
    size_t nl = strlen(name);
    const char *p = list;
    while (*p != '\0') {
        size_t n = strcspn(p, ";");
        if (n == nl && strncmp(p, name, n) == 0) {
            return true;
        }
        p += n;
        if (*p == ';') {
            p++;
        }
    }
    return false;
}

bool sigv4_verify(const sigv4_request *r, sigv4_secret_fn secret_of, void *arg, sigv4_result *out)
{
    memset(out, 0, sizeof(*out));
    const char *auth = header1(r, "Authorization");
    static const char alg[] = "AWS4-HMAC-SHA256 ";
    if (auth == NULL) {
        return refuse(out, "no Authorization header");
    }
    if (strncmp(auth, alg, sizeof(alg) - 1) != 0) {
        return refuse(out, "Authorization is not AWS4-HMAC-SHA256");
    }
    const char *list = auth + sizeof(alg) - 1;
    char cred[400], signed_h[1024], sig[80];
    if (!auth_field(list, "Credential", cred, sizeof(cred)) ||
        !auth_field(list, "SignedHeaders", signed_h, sizeof(signed_h)) ||
        !auth_field(list, "Signature", sig, sizeof(sig))) {
        return refuse(out, "Authorization needs Credential, SignedHeaders and Signature once each");
    }
    /* KEY/DATE/REGION/SERVICE/aws4_request */
    char *parts[5] = {0};
    int np = 0;
    for (char *p = cred; np < 6 && p != NULL;) {
        char *slash = strchr(p, '/');
        if (slash != NULL) {
            *slash = '\0';
        }
        if (np < 5) {
            parts[np] = p;
        }
        np++;
        p = slash != NULL ? slash + 1 : NULL;
    }
    if (np != 5 || strcmp(parts[4], "aws4_request") != 0 || strlen(parts[1]) != 8 ||
        strlen(parts[0]) > SIGV4_KEY_ID_MAX || strlen(parts[2]) >= sizeof(out->region)) {
        return refuse(out, "Credential is not KEY/YYYYMMDD/REGION/SERVICE/aws4_request");
    }
    snprintf(out->signed_headers, sizeof(out->signed_headers), "%s", signed_h);
    if (strcmp(parts[3], r->service) != 0) {
        return refuse(out, "the signature's service is not this one");
    }
    snprintf(out->key_id, sizeof(out->key_id), "%s", parts[0]);
    snprintf(out->region, sizeof(out->region), "%s", parts[2]);
    const char *date = header1(r, "X-Amz-Date");
    int64_t t = date != NULL ? amz_time(date) : -1;
    if (t < 0) {
        return refuse(out, "no valid X-Amz-Date (YYYYMMDDTHHMMSSZ)");
    }
    if (strncmp(date, parts[1], 8) != 0) {
        return refuse(out, "the Credential's date is not the X-Amz-Date's");
    }
    if (t > r->now_ms + SIGV4_SKEW_MS || t < r->now_ms - SIGV4_SKEW_MS) {
        return refuse(out, "X-Amz-Date is more than 5 minutes from the broker's clock");
    }
    if (!listed(signed_h, "host") || !listed(signed_h, "x-amz-date")) {
        return refuse(out, "host and x-amz-date must be signed");
    }
    char body_hash[65];
    sha256_hex(r->body != NULL ? r->body : "", r->body_len, body_hash);
    const char *ph = header1(r, "X-Amz-Content-Sha256");
    const char *payload_hash = body_hash;
    if (ph != NULL) {
        if (strcmp(ph, "UNSIGNED-PAYLOAD") == 0) {
            payload_hash = "UNSIGNED-PAYLOAD";
        } else if (strlen(ph) == 64 && strcasecmp(ph, body_hash) == 0) {
            payload_hash = ph;
        } else {
            return refuse(out, "X-Amz-Content-Sha256 does not match the body");
        }
    }
    snprintf(out->payload_hash, sizeof(out->payload_hash), "%s", payload_hash);
    char secret[SIGV4_SECRET_MAX + 1];
    if (!secret_of(arg, out->key_id, secret)) {
        return refuse(out, "unknown access key");
    }
    bool missing = false;
    char *creq = canonical(r, signed_h, payload_hash, &missing);
    char want[65];
    bool ok = creq != NULL && !missing &&
              sign_canonical(creq, secret, date, out->region, r->service, want);
    free(creq);
    memset(secret, 0, sizeof(secret));
    if (missing) {
        return refuse(out, "a signed header is missing from the request");
    }
    if (!ok) {
        return refuse(out, "out of memory");
    }
    /* constant time over the expected length */
    size_t sl = strlen(sig);
    unsigned char diff = sl != 64;
    for (size_t i = 0; i < 64; i++) {
        diff |= (unsigned char)(want[i] ^ (i < sl ? sig[i] : 0));
    }
    return diff == 0 ? true : refuse(out, "the signature does not match");
}
