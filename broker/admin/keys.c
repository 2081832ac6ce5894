/*
 * broker/admin/keys.c — the broker's access keys for SigV4: the ops
 * keys-create, keys-list and keys-delete, their sealed rows
 * (store/keys.c), and the table the HTTP front end reads a key's secret
 * from when it verifies a signature (admin_key_secret).
 *
 * A key is an id ("LMAK" and 16 upper-case letters and digits, like AWS's
 * AKIA…) and a 40-character secret, shown once, by keys-create.  SigV4
 * needs the secret itself to recompute a signature, so it cannot be
 * stored as a hash; it is sealed instead: AES-256-GCM under a master key
 * kept in <state>/master.key (32 random bytes, mode 0600, made on first
 * start), with a fresh 12-byte nonce per key and the key id as associated
 * data, so a row copied under another id does not open.  The database (and
 * its backups) therefore hold no usable secret; whoever can read the
 * state dir's master.key can, as they could read the broker's memory.
 *
 * The table: every key by id under K.mtx (a leaf), secrets in clear in
 * memory only.  The admin thread is the only writer, after the commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/gcm.h>

#include "admin/internal.h"
#include "lib/hmap.h"
#include "lib/util.h"
#include "store/store.h"

#define KEY_ID_LEN 20
#define SECRET_LEN 40
#define NONCE_LEN 12
#define TAG_LEN 16

typedef struct akey {
    hmap_node node;
    char id[KEY_ID_LEN + 1];
    char secret[SECRET_LEN + 1];
    char description[257];
    char created[40];
} akey;

static struct {
    pthread_mutex_t mtx;
    hmap by_id;
    unsigned char master[32];
    bool ready;
} K = {.mtx = PTHREAD_MUTEX_INITIALIZER};

static void fill_random(void *p, size_t n)
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

/* <state>/master.key: read it, or make it. */
static int load_master(lm_error *e)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/master.key", B.opt.state);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        ssize_t n = read(fd, K.master, sizeof(K.master));
        close(fd);
        if (n != (ssize_t)sizeof(K.master)) {
            return proto_error(e, LM_E_IO, "%s: not a 32-byte master key", path);
        }
        return LM_OK;
    }
    if (errno != ENOENT) {
        return proto_error(e, LM_E_IO, "%s: %s", path, strerror(errno));
    }
    fill_random(K.master, sizeof(K.master));
    if (util_write_file_atomic(path, K.master, sizeof(K.master), 0600) != 0) {
        return proto_error(e, LM_E_IO, "%s: cannot write it: %s", path, strerror(errno));
    }
    return LM_OK;
}

/* nonce || AES-256-GCM(secret) || tag into out (NONCE + SECRET + TAG bytes). */
static int seal(const char *id, const char *secret, unsigned char *out)
{
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    fill_random(out, NONCE_LEN);
    int rc = mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, K.master, 256);
    if (rc == 0) {
        rc = mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, SECRET_LEN, out, NONCE_LEN,
                                       (const unsigned char *)id, strlen(id),
                                       (const unsigned char *)secret, out + NONCE_LEN, TAG_LEN,
                                       out + NONCE_LEN + SECRET_LEN);
    }
    mbedtls_gcm_free(&g);
    return rc;
}

static int unseal(const char *id, const unsigned char *in, size_t len, char secret[SECRET_LEN + 1])
{
    if (len != NONCE_LEN + SECRET_LEN + TAG_LEN) {
        return -1;
    }
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    int rc = mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, K.master, 256);
    if (rc == 0) {
        rc = mbedtls_gcm_auth_decrypt(&g, SECRET_LEN, in, NONCE_LEN, (const unsigned char *)id,
                                      strlen(id), in + NONCE_LEN + SECRET_LEN, TAG_LEN,
                                      in + NONCE_LEN, (unsigned char *)secret);
    }
    mbedtls_gcm_free(&g);
    secret[SECRET_LEN] = '\0';
    return rc;
}

static void load_one(const char *id, const void *sealed, size_t len, const char *description,
                     const char *created, void *arg)
{
    (void)arg;
    akey *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        return;
    }
    snprintf(k->id, sizeof(k->id), "%s", id);
    if (strlen(id) != KEY_ID_LEN || unseal(k->id, sealed, len, k->secret) != 0) {
        blog(LOG_ERROR, "access key %.40s: its secret does not open under master.key; skipped", id);
        free(k);
        return;
    }
    snprintf(k->description, sizeof(k->description), "%s", description);
    snprintf(k->created, sizeof(k->created), "%s", created);
    if (hmap_put(&K.by_id, &k->node, k->id) != 0) {
        free(k);
    }
}

int admin_keys_load(lm_error *e)
{
    pthread_mutex_lock(&K.mtx);
    hmap_init(&K.by_id, 16);
    int rc = load_master(e);
    if (rc == LM_OK) {
        K.ready = true;
        rc = store_load_keys(load_one, NULL, e);
    }
    pthread_mutex_unlock(&K.mtx);
    return rc;
}

bool admin_key_secret(void *arg, const char *id, char secret[SIGV4_SECRET_MAX + 1])
{
    (void)arg;
    pthread_mutex_lock(&K.mtx);
    hmap_node *n = K.ready ? hmap_get(&K.by_id, id) : NULL;
    if (n != NULL) {
        memcpy(secret, hmap_entry(n, akey, node)->secret, SECRET_LEN + 1);
    }
    pthread_mutex_unlock(&K.mtx);
    return n != NULL;
}

/* ---- ops ---- */

static void random_text(char *out, size_t n, const char *alphabet)
{
    size_t an = strlen(alphabet);
    unsigned char b[64];
    fill_random(b, n);
    for (size_t i = 0; i < n; i++) {
        out[i] = alphabet[b[i] % an]; /* 256 % 36 and % 64 bias: negligible for ids */
    }
    out[n] = '\0';
}

static void write_key(proto_writer *w, const akey *k, bool with_secret)
{
    pw_map(w, with_secret ? 4 : 3);
    pw_key(w, "AccessKeyId");
    pw_str(w, k->id);
    if (with_secret) {
        pw_key(w, "SecretAccessKey");
        pw_str(w, k->secret);
    }
    pw_key(w, "Description");
    pw_str(w, k->description);
    pw_key(w, "CreateDate");
    pw_str(w, k->created);
}

nng_msg *admin_keys_create(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    char *desc = NULL;
    if (adm_get_text(args, "Description", 256, &desc, e) != LM_OK) {
        return NULL;
    }
    akey *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        free(desc);
        proto_error(e, LM_E_NOMEM, NULL);
        return NULL;
    }
    memcpy(k->id, "LMAK", 4);
    random_text(k->id + 4, KEY_ID_LEN - 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    random_text(k->secret, SECRET_LEN,
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    snprintf(k->description, sizeof(k->description), "%s", desc != NULL ? desc : "");
    free(desc);
    util_iso8601_now(k->created, sizeof(k->created));
    unsigned char sealed[NONCE_LEN + SECRET_LEN + TAG_LEN];
    if (!K.ready || seal(k->id, k->secret, sealed) != 0) {
        free(k);
        proto_error(e, LM_E_INTERNAL, "cannot seal the new key's secret");
        return NULL;
    }
    if (store_put_key(k->id, sealed, sizeof(sealed), k->description, k->created, e) != LM_OK) {
        free(k);
        return NULL;
    }
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m != NULL) {
        pw_map(&w, 1);
        pw_key(&w, "AccessKey");
        write_key(&w, k, true);
        m = proto_reply_end(&w, m);
    }
    pthread_mutex_lock(&K.mtx);
    if (hmap_put(&K.by_id, &k->node, k->id) != 0) {
        free(k); /* stored: it comes back at the next start */
    }
    pthread_mutex_unlock(&K.mtx);
    blog(LOG_INFO, "access key created");
    return m;
}

nng_msg *admin_keys_list(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    (void)args;
    (void)e;
    proto_writer w;
    nng_msg *m = proto_ok_begin(&w);
    if (m == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&K.mtx);
    pw_map(&w, 1);
    pw_key(&w, "AccessKeys");
    pw_array(&w, (uint32_t)K.by_id.count);
    HMAP_EACH(k, akey, node, &K.by_id)
    {
        write_key(&w, k, false);
    }
    pthread_mutex_unlock(&K.mtx);
    return proto_reply_end(&w, m);
}

nng_msg *admin_keys_delete(const proto_doc *doc, const msgpack_object *args, lm_error *e)
{
    (void)doc;
    const char *s = NULL;
    size_t n = 0;
    char id[KEY_ID_LEN + 1];
    if (proto_get_str(args, "AccessKeyId", true, &s, &n, e) != LM_OK || n != KEY_ID_LEN) {
        adm_bad(e, "%s is required: the 20-character id keys-create gave", "AccessKeyId");
        return NULL;
    }
    memcpy(id, s, n);
    id[n] = '\0';
    bool found = false;
    if (store_delete_key(id, &found, e) != LM_OK) {
        return NULL;
    }
    if (!found) {
        proto_error(e, LM_E_NOT_FOUND, "Access key not found: %s", id);
        return NULL;
    }
    pthread_mutex_lock(&K.mtx);
    hmap_node *node = hmap_get(&K.by_id, id);
    if (node != NULL) {
        hmap_remove(&K.by_id, node);
        akey *k = hmap_entry(node, akey, node);
        memset(k->secret, 0, sizeof(k->secret));
        free(k);
    }
    pthread_mutex_unlock(&K.mtx);
    blog(LOG_INFO, "access key %s deleted", id);
    return adm_empty_reply();
}
