/*
 * broker/lib/util.c — small helpers with no broker state: ids, hashing (mbedtls), base64, %-decoding,
 * durable file writes (write, fsync, rename, fsync the directory — the
 * ALICE-safe pattern), name validation, and decoding a stored
 * Environment.Variables (util_env_from_json: the store's text is read as
 * untrusted, like a request; tests/fuzz/fuzz_store.c drives it).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/sha256.h>

#include "proto.h"
#include "util.h"

void util_random_bytes(void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((char *)p + got, n - got, 0);
        if (r > 0) {
            got += (size_t)r;
        } else if (errno != EINTR) {
            abort(); /* no entropy: nothing safe to do */
        }
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 32;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

ssize_t util_pct_decode(const char *s, size_t n, char *out, bool strict)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = -1, lo = -1;
        if (s[i] == '%' && i + 2 < n) {
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
        }
        if (hi >= 0 && lo >= 0 && (!strict || hi * 16 + lo != 0)) {
            out[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '%' && strict) {
            return -1;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return (ssize_t)k;
}

void util_uuid4(char out[37])
{
    unsigned char b[16];
    util_random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void util_random_hex(char *out, size_t nbytes)
{
    unsigned char b[64];
    if (nbytes > sizeof(b)) {
        nbytes = sizeof(b);
    }
    util_random_bytes(b, nbytes);
    for (size_t i = 0; i < nbytes; i++) {
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    }
}

void util_iso8601_now(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ld+0000", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

int util_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    if (mbedtls_sha256_ret(p, n, d, 0) != 0) {
        return -1;
    }
    for (int i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    }
    return 0;
}

char *util_base64(const void *p, size_t n)
{
    size_t cap = 4 * ((n + 2) / 3) + 1, olen = 0;
    char *out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    if (mbedtls_base64_encode((unsigned char *)out, cap, &olen, p, n) != 0) {
        free(out);
        return NULL;
    }
    out[olen] = '\0';
    return out;
}

int util_mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
        return -1;
    }
    for (char *s = tmp + 1; *s != '\0'; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(tmp, mode) != 0 && errno != EEXIST) {
                return -1;
            }
            *s = '/';
        }
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    int dfd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        return -1;
    }
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
        goto fail;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return fsync_dir_of(path);
fail:
    close(fd);
    unlink(tmp);
    return -1;
}

bool util_valid_function_name(const char *s, size_t n)
{
    return proto_valid_function_name(s, n); /* proto/names.c: Lambda's pattern */
}

bool util_all_digits(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
    }
    return true;
}

util_env_var *util_env_from_json(const char *json, size_t *n)
{
    cJSON *vars = cJSON_Parse(json != NULL ? json : "{}");
    size_t cap = 0, k = 0;
    *n = 0;
    for (const cJSON *v = cJSON_IsObject(vars) ? vars->child : NULL; v != NULL; v = v->next) {
        cap++;
    }
    util_env_var *out = calloc(cap + 1, sizeof(*out));
    for (const cJSON *v = cJSON_IsObject(vars) ? vars->child : NULL; out != NULL && v != NULL;
         v = v->next) {
        /* what admin.c lets in: string values, keys by Lambda's pattern and
         * not reserved (a store from before a rule, or edited by hand, must
         * not put LD_PRELOAD into a worker) */
        if (!cJSON_IsString(v) || v->string == NULL ||
            proto_env_key_problem(v->string, strlen(v->string)) != NULL) {
            continue;
        }
        out[k].key = strdup(v->string);
        out[k].value = strdup(v->valuestring);
        if (out[k].key == NULL || out[k].value == NULL) {
            util_env_free(out, k + 1);
            out = NULL;
            break;
        }
        k++;
    }
    cJSON_Delete(vars);
    *n = out != NULL ? k : 0;
    return out;
}

void util_env_free(util_env_var *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i].key);
        free(v[i].value);
    }
    free(v);
}
