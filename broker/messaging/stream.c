/*
 * broker/messaging/stream.c — streams with Kinesis Data Streams'
 * semantics: shards by hash-key range, records in sequence order, shard
 * iterators, GetRecords, SplitShard / MergeShards, retention.
 *
 * Hash keys.  A partition key's MD5 read as a 128-bit big-endian unsigned
 * integer (or the ExplicitHashKey) is the record's hash key; the open shard
 * whose [start, end] holds it takes the record.  Ranges are kept as 32 hex
 * digits so that SQLite's text order is numeric order: the open shards of
 * a stream partition 0..2^128-1, so the one with the greatest start <= key
 * holds it (one probe of mq_shards_open).  Create splits the space as
 * Kinesis does: shard i starts at i * floor(2^128 / N), the last ends at
 * 2^128 - 1.
 *
 * Sequence numbers are the records' rowids (mq_records is AUTOINCREMENT):
 * one counter for the store, never reused, so they increase within a
 * shard, and a shard opened by a reshard starts above every record of its
 * parents (a parent's EndingSequenceNumber is the greatest number stored
 * when it closes, its children's StartingSequenceNumber that + 1).  Puts run on
 * the messaging thread one after the other, so a shard's order is its
 * commit order.  Arrival times never go back within a shard (a clock that
 * steps back keeps the shard's last arrival), so the arrival index orders a
 * shard's records as its sequence numbers do.
 *
 * Iterators are base64 of "sid.shard.position.issued_ms.mac": position is
 * the first sequence number still to read (0 for TRIM_HORIZON: the oldest
 * live record), issued_ms the broker time it was made, mac 16 hex digits
 * of SHA-256 over the store's meta('stream_iterator_key') and the fields,
 * so an iterator cannot be forged or made younger.  After
 * MQ_STREAM_ITERATOR_TTL_MS of broker time it is ExpiredIteratorException.
 *
 * Retention.  A record older than now - retention is never returned: a
 * read starts at the first live record of the shard (one probe of the
 * arrival index).  mq_stream_sweep deletes expired records shard by shard
 * from the front of the arrival index, closed shards once they hold no
 * live record, and the records of deleted streams, all within a budget.
 * No hot path scans: put, iterator and get-records are index probes and
 * one range read.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md5.h>

#include "proto.h"

#include "mq_internal.h"

__extension__ typedef unsigned __int128 u128;

#define U128_MAX (~(u128)0)
#define HOUR_MS 3600000LL

/* ---- 128-bit numbers ---- */

static void u128_hex(u128 v, char out[33])
{
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, (uint64_t)(v >> 64), (uint64_t)v);
}

static u128 hex_u128(const char *s)
{
    u128 v = 0;
    for (int i = 0; i < 32 && s[i] != '\0'; i++) {
        char c = s[i];
        int d = c >= 'a' ? c - 'a' + 10 : c - '0';
        v = (v << 4) | (u128)(d & 15);
    }
    return v;
}

static void u128_dec(u128 v, char out[MQ_HASH_KEY_MAX])
{
    char t[MQ_HASH_KEY_MAX];
    size_t n = 0;
    do {
        t[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = t[n - 1 - i];
    }
    out[n] = '\0';
}

/* Decimal text 0..2^128-1 (digits only) to *v; false otherwise. */
static bool dec_u128(const char *s, u128 *v)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 39) {
        return false;
    }
    u128 x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (U128_MAX - d) / 10) {
            return false;
        }
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

static u128 md5_u128(const char *p, size_t n)
{
    unsigned char d[16];
    mbedtls_md5_ret((const unsigned char *)p, n, d);
    u128 v = 0;
    for (int i = 0; i < 16; i++) {
        v = (v << 8) | d[i];
    }
    return v;
}

void mq_stream_hash_key(const char *pkey, size_t n, char out[MQ_HASH_KEY_MAX])
{
    u128_dec(md5_u128(pkey, n), out);
}

/* "hex32" to decimal text. */
static void hex_dec(const char *hex, char out[MQ_HASH_KEY_MAX])
{
    u128_dec(hex_u128(hex), out);
}

/* ---- names, ids, numbers ---- */

static int bad(lm_error *e, const char *fmt, const char *arg)
{
    char q[96];
    return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT, fmt, mq_q(q, sizeof(q), arg));
}

static bool valid_stream_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MQ_STREAM_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* NAME or arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME to NAME. */
static int stream_ref(const char *ref, char name[MQ_STREAM_NAME_MAX + 1], lm_error *e)
{
    const char *n = ref;
    if (ref == NULL) {
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT, "StreamName is required");
    }
    if (strncmp(ref, "arn:", 4) == 0) {
        const char *svc = strchr(ref + 4, ':');
        const char *slash = strstr(ref, ":stream/");
        if (svc == NULL || strncmp(svc, ":kinesis:", 9) != 0 || slash == NULL) {
            return bad(e, "%s is not a stream ARN", ref);
        }
        n = slash + 8;
    }
    if (!valid_stream_name(n)) {
        return bad(e, "StreamName %s must match [a-zA-Z0-9_.-]{1,128}", n);
    }
    snprintf(name, MQ_STREAM_NAME_MAX + 1, "%s", n);
    return LM_OK;
}

static void stream_arn(const char *name, char out[MQ_ARN_MAX])
{
    snprintf(out, MQ_ARN_MAX, "arn:%s:kinesis:%s:%s:stream/%s", MQ_ARN_PARTITION, MQ_ARN_REGION,
             MQ_ARN_ACCOUNT, name);
}

static void shard_id(int64_t shard, char out[MQ_STREAM_SHARD_ID_LEN + 1])
{
    char t[48];
    snprintf(t, sizeof(t), "shardId-%012lld", (long long)(shard < 0 ? 0 : shard % 1000000000000LL));
    snprintf(out, MQ_STREAM_SHARD_ID_LEN + 1, "%.20s", t);
}

/* "shardId-NNNNNNNNNNNN" or "NNN" to the shard's number; -1 if neither. */
static int64_t parse_shard(const char *s)
{
    if (s == NULL) {
        return -1;
    }
    if (strncmp(s, "shardId-", 8) == 0) {
        s += 8;
    }
    size_t n = strlen(s);
    if (n == 0 || n > 12 || strspn(s, "0123456789") != n) {
        return -1;
    }
    return strtoll(s, NULL, 10);
}

static void seq_text(int64_t seq, char out[MQ_STREAM_SEQ_LEN + 1])
{
    char t[32]; /* room for any int64 the compiler imagines */
    snprintf(t, sizeof(t), "%0*lld", MQ_STREAM_SEQ_LEN, (long long)(seq < 0 ? 0 : seq));
    snprintf(out, MQ_STREAM_SEQ_LEN + 1, "%.20s", t);
}

/* Decimal text (leading zeros allowed, up to 128 digits) to a sequence
 * number; -1 when it is not one. */
static int64_t parse_seq(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 128 || strspn(s, "0123456789") != n) {
        return -1;
    }
    while (n > 1 && *s == '0') {
        s++;
        n--;
    }
    if (n > 19) {
        return -1;
    }
    u128 v = 0;
    dec_u128(s, &v);
    return v > (u128)INT64_MAX ? -1 : (int64_t)v;
}

/* Unicode characters in valid UTF-8 s[0..n); -1 if it is not UTF-8. */
static long utf8_chars(const char *s, size_t n)
{
    long count = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; count++) {
        unsigned c = p[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || i + k > n || (k == 2 && c < 0xc2) || (k == 4 && c > 0xf4)) {
            return -1;
        }
        for (size_t j = 1; j < k; j++) {
            if ((p[i + j] & 0xc0) != 0x80) {
                return -1;
            }
        }
        if (k == 3 && ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0))) {
            return -1;
        }
        if (k == 4 && ((c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] >= 0x90))) {
            return -1;
        }
        i += k;
    }
    return count;
}

/* ---- rows ---- */

typedef struct stream_row {
    int64_t sid;
    char name[MQ_STREAM_NAME_MAX + 1];
    int retention_h;
    int64_t created_ms, next_shard, n_open;
} stream_row;

typedef struct shard_row {
    int64_t shard;
    char start[33], end[33]; /* hex */
    int64_t parent, adjacent, start_seq, end_seq; /* end_seq -1: open */
    int64_t closed_ms;
} shard_row;

/* 1 found, 0 none, <0 error. */
static int load_stream(mq *m, const char *name, stream_row *s, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT sid, name, retention_h, created_ms, next_shard, n_open "
                               "FROM mq_streams WHERE name = ?",
                               e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = mq_step(m, st, e);
    if (r == 1) {
        s->sid = sqlite3_column_int64(st, 0);
        mq_fmt(s->name, "%s", mq_col_text(st, 1));
        s->retention_h = sqlite3_column_int(st, 2);
        s->created_ms = sqlite3_column_int64(st, 3);
        s->next_shard = sqlite3_column_int64(st, 4);
        s->n_open = sqlite3_column_int64(st, 5);
        sqlite3_reset(st);
    }
    return r;
}

static int load_stream_by_sid(mq *m, int64_t sid, stream_row *s, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT name FROM mq_streams WHERE sid = ?", e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, sid);
    int r = mq_step(m, st, e);
    if (r != 1) {
        return r;
    }
    char name[MQ_STREAM_NAME_MAX + 1];
    mq_fmt(name, "%s", mq_col_text(st, 0));
    sqlite3_reset(st);
    return load_stream(m, name, s, e);
}

static int open_stream(mq *m, const char *ref, stream_row *s, lm_error *e)
{
    char name[MQ_STREAM_NAME_MAX + 1];
    int rc = stream_ref(ref, name, e);
    if (rc != LM_OK) {
        return rc;
    }
    int r = load_stream(m, name, s, e);
    if (r < 0) {
        return LM_E_IO;
    }
    if (r == 0) {
        char q[96];
        return proto_error(e, LM_E_NOT_FOUND, "Stream %s under account %s not found.",
                           mq_q(q, sizeof(q), name), MQ_ARN_ACCOUNT);
    }
    return LM_OK;
}

#define SHARD_COLS                                                      \
    "SELECT shard, start_hash, end_hash, parent, adjacent, start_seq, " \
    "coalesce(end_seq, -1), coalesce(closed_ms, -1) FROM mq_shards "

static void read_shard(sqlite3_stmt *st, shard_row *sh)
{
    sh->shard = sqlite3_column_int64(st, 0);
    snprintf(sh->start, sizeof(sh->start), "%s", mq_col_text(st, 1));
    snprintf(sh->end, sizeof(sh->end), "%s", mq_col_text(st, 2));
    sh->parent = sqlite3_column_int64(st, 3);
    sh->adjacent = sqlite3_column_int64(st, 4);
    sh->start_seq = sqlite3_column_int64(st, 5);
    sh->end_seq = sqlite3_column_int64(st, 6);
    sh->closed_ms = sqlite3_column_int64(st, 7);
}

/* 1 found, 0 none, <0 error. */
static int load_shard(mq *m, int64_t sid, int64_t shard, shard_row *sh, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, SHARD_COLS "WHERE sid = ? AND shard = ?", e);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, shard);
    int r = mq_step(m, st, e);
    if (r == 1) {
        read_shard(st, sh);
        sqlite3_reset(st);
    }
    return r;
}

static int shard_not_found(lm_error *e, const char *shard, const stream_row *s)
{
    char q[64];
    return proto_error(e, LM_E_NOT_FOUND, "Shard %s in stream %s under account %s does not exist",
                       mq_q(q, sizeof(q), shard), s->name, MQ_ARN_ACCOUNT);
}

static int open_shard(mq *m, const stream_row *s, const char *ref, shard_row *sh, lm_error *e)
{
    int64_t n = parse_shard(ref);
    if (n < 0) {
        return bad(e, "ShardId %s is not a shard id (shardId-NNNNNNNNNNNN)", ref);
    }
    int r = load_shard(m, s->sid, n, sh, e);
    if (r < 0) {
        return LM_E_IO;
    }
    return r == 0 ? shard_not_found(e, ref, s) : LM_OK;
}

/* The greatest sequence number stored (0: none), the last entry of the
 * rowid tree.  Every later record gets a greater one (AUTOINCREMENT's
 * counter is at least this), so LATEST and a new shard's start use it. */
static int last_seq(mq *m, int64_t *seq, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT coalesce(max(seq), 0) FROM mq_records", e);
    if (st == NULL || mq_step(m, st, e) != 1) {
        return LM_E_IO;
    }
    *seq = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return LM_OK;
}

static int insert_shard(mq *m, int64_t sid, int64_t shard, u128 start, u128 end, int64_t parent,
                        int64_t adjacent, int64_t start_seq, lm_error *e)
{
    char hs[33], he[33];
    u128_hex(start, hs);
    u128_hex(end, he);
    sqlite3_stmt *st = mq_stmt(m,
                               "INSERT INTO mq_shards(sid, shard, start_hash, end_hash, parent, "
                               "adjacent, start_seq) VALUES(?, ?, ?, ?, ?, ?, ?)",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, shard);
    sqlite3_bind_text(st, 3, hs, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, he, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, parent);
    sqlite3_bind_int64(st, 6, adjacent);
    sqlite3_bind_int64(st, 7, start_seq);
    return mq_done(m, st, e);
}

/* ---- create, delete, list, describe ---- */

static int count_streams(mq *m, int64_t *n, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT count(*) FROM mq_streams", e);
    if (st == NULL || mq_step(m, st, e) != 1) {
        return LM_E_IO;
    }
    *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return LM_OK;
}

static int create_in(mq *m, const char *name, int shards, int retention_h, int64_t now_ms,
                     lm_error *e)
{
    stream_row s;
    int64_t n = 0, seq = 0;
    int r = load_stream(m, name, &s, e);
    if (r != 0) {
        return r < 0 ? LM_E_IO
                     : proto_error(e, LM_E_RESOURCE_IN_USE,
                                   "Stream %s under account %s already exists.", name,
                                   MQ_ARN_ACCOUNT);
    }
    if (count_streams(m, &n, e) != LM_OK || last_seq(m, &seq, e) != LM_OK) {
        return LM_E_IO;
    }
    if (n >= MQ_STREAMS_MAX) {
        return proto_error(e, LM_E_LIMIT_EXCEEDED, "The broker already has %d streams",
                           MQ_STREAMS_MAX);
    }
    sqlite3_stmt *st = mq_stmt(m,
                               "INSERT INTO mq_streams(name, retention_h, created_ms, next_shard, "
                               "n_open) VALUES(?, ?, ?, ?, ?)",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, retention_h);
    sqlite3_bind_int64(st, 3, now_ms);
    sqlite3_bind_int(st, 4, shards);
    sqlite3_bind_int(st, 5, shards);
    if (mq_done(m, st, e) != LM_OK) {
        return LM_E_IO;
    }
    int64_t sid = sqlite3_last_insert_rowid(m->db);
    /* floor(2^128 / N) from (2^128 - 1) / N */
    u128 step = U128_MAX / (u128)shards;
    if (U128_MAX % (u128)shards == (u128)shards - 1) {
        step++;
    }
    for (int i = 0; i < shards; i++) {
        u128 start = step * (u128)i, end = i == shards - 1 ? U128_MAX : step * (u128)(i + 1) - 1;
        if (insert_shard(m, sid, i, start, end, -1, -1, seq + 1, e) != LM_OK) {
            return LM_E_IO;
        }
    }
    return LM_OK;
}

int mq_stream_create(mq *m, const char *name, int shards, int retention_h, int64_t now_ms,
                     char arn[MQ_ARN_MAX], lm_error *e)
{
    if (name == NULL || !valid_stream_name(name)) {
        return bad(e, "StreamName %s must match [a-zA-Z0-9_.-]{1,128}", name != NULL ? name : "");
    }
    if (shards < 1) {
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT, "ShardCount %d must be at least 1",
                           shards);
    }
    if (shards > MQ_STREAM_SHARDS_MAX) {
        return proto_error(e, LM_E_LIMIT_EXCEEDED,
                           "ShardCount %d is above the limit of %d shards per stream", shards,
                           MQ_STREAM_SHARDS_MAX);
    }
    if (retention_h < MQ_STREAM_RETENTION_MIN_H || retention_h > MQ_STREAM_RETENTION_MAX_H) {
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                           "RetentionPeriodHours %d must be from %d to %d", retention_h,
                           MQ_STREAM_RETENTION_MIN_H, MQ_STREAM_RETENTION_MAX_H);
    }
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_op_end(m, create_in(m, name, shards, retention_h, now_ms, e), e);
    if (rc == LM_OK && arn != NULL) {
        stream_arn(name, arn);
    }
    return rc;
}

static int delete_in(mq *m, const char *ref, lm_error *e)
{
    stream_row s;
    int rc = open_stream(m, ref, &s, e);
    if (rc != LM_OK) {
        return rc;
    }
    sqlite3_stmt *st = mq_stmt(m, "DELETE FROM mq_streams WHERE sid = ?", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, s.sid);
    if (mq_done(m, st, e) != LM_OK) {
        return LM_E_IO;
    }
    /* its shards now (a stream has at most a few thousand), its records
     * later (mq_stream_sweep) */
    st = mq_stmt(m, "DELETE FROM mq_shards WHERE sid = ?", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, s.sid);
    if (mq_done(m, st, e) != LM_OK) {
        return LM_E_IO;
    }
    st = mq_stmt(m, "INSERT OR IGNORE INTO mq_stream_detached(sid) VALUES(?)", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, s.sid);
    return mq_done(m, st, e);
}

int mq_stream_delete(mq *m, const char *stream, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    return rc != LM_OK ? rc : mq_op_end(m, delete_in(m, stream, e), e);
}

cJSON *mq_stream_list(mq *m, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT name, created_ms FROM mq_streams ORDER BY name", e);
    if (st == NULL) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject(), *names = cJSON_AddArrayToObject(o, "StreamNames");
    cJSON_AddBoolToObject(o, "HasMoreStreams", false);
    cJSON *sums = cJSON_AddArrayToObject(o, "StreamSummaries");
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        const char *name = mq_col_text(st, 0);
        char arn[MQ_ARN_MAX];
        stream_arn(name, arn);
        cJSON_AddItemToArray(names, cJSON_CreateString(name));
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "StreamName", name);
        cJSON_AddStringToObject(x, "StreamARN", arn);
        cJSON_AddStringToObject(x, "StreamStatus", "ACTIVE");
        cJSON_AddNumberToObject(x, "StreamCreationTimestamp",
                                (double)sqlite3_column_int64(st, 1) / 1000.0);
        cJSON_AddItemToArray(sums, x);
    }
    if (r < 0) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *shard_json(const shard_row *sh)
{
    char id[MQ_STREAM_SHARD_ID_LEN + 1], dec[MQ_HASH_KEY_MAX], seq[MQ_STREAM_SEQ_LEN + 1];
    cJSON *o = cJSON_CreateObject();
    shard_id(sh->shard, id);
    cJSON_AddStringToObject(o, "ShardId", id);
    if (sh->parent >= 0) {
        shard_id(sh->parent, id);
        cJSON_AddStringToObject(o, "ParentShardId", id);
    }
    if (sh->adjacent >= 0) {
        shard_id(sh->adjacent, id);
        cJSON_AddStringToObject(o, "AdjacentParentShardId", id);
    }
    cJSON *h = cJSON_AddObjectToObject(o, "HashKeyRange");
    hex_dec(sh->start, dec);
    cJSON_AddStringToObject(h, "StartingHashKey", dec);
    hex_dec(sh->end, dec);
    cJSON_AddStringToObject(h, "EndingHashKey", dec);
    cJSON *r = cJSON_AddObjectToObject(o, "SequenceNumberRange");
    seq_text(sh->start_seq, seq);
    cJSON_AddStringToObject(r, "StartingSequenceNumber", seq);
    if (sh->end_seq >= 0) {
        seq_text(sh->end_seq, seq);
        cJSON_AddStringToObject(r, "EndingSequenceNumber", seq);
    }
    return o;
}

cJSON *mq_stream_describe(mq *m, const char *stream, int64_t now_ms, lm_error *e)
{
    (void)now_ms;
    stream_row s;
    if (open_stream(m, stream, &s, e) != LM_OK) {
        return NULL;
    }
    sqlite3_stmt *st = mq_stmt(m, SHARD_COLS "WHERE sid = ? ORDER BY shard", e);
    if (st == NULL) {
        return NULL;
    }
    char arn[MQ_ARN_MAX];
    stream_arn(s.name, arn);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "StreamName", s.name);
    cJSON_AddStringToObject(o, "StreamARN", arn);
    cJSON_AddStringToObject(o, "StreamStatus", "ACTIVE");
    cJSON_AddNumberToObject(o, "RetentionPeriodHours", s.retention_h);
    cJSON_AddNumberToObject(o, "StreamCreationTimestamp", (double)s.created_ms / 1000.0);
    cJSON_AddStringToObject(o, "EncryptionType", "NONE");
    cJSON_AddBoolToObject(o, "HasMoreShards", false);
    cJSON *shards = cJSON_AddArrayToObject(o, "Shards");
    sqlite3_bind_int64(st, 1, s.sid);
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        shard_row sh;
        read_shard(st, &sh);
        cJSON_AddItemToArray(shards, shard_json(&sh));
    }
    if (r < 0) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- put ---- */

/* Check one record; the hash key into *h. */
static int check_record(const mq_record_in *r, u128 *h, lm_error *e)
{
    size_t klen = r->pkey != NULL ? strlen(r->pkey) : 0;
    long chars = r->pkey != NULL ? utf8_chars(r->pkey, klen) : -1;
    if (chars < 1 || chars > MQ_STREAM_PKEY_MAX) {
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                           "PartitionKey must be 1-%d Unicode characters", MQ_STREAM_PKEY_MAX);
    }
    if (r->len > MQ_STREAM_RECORD_MAX || klen + r->len > MQ_STREAM_RECORD_MAX) {
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                           "Data and PartitionKey together are %zu bytes, above the limit of %d",
                           klen + r->len, MQ_STREAM_RECORD_MAX);
    }
    if (r->explicit_hash != NULL) {
        if (!dec_u128(r->explicit_hash, h)) {
            return bad(e, "ExplicitHashKey %s must be a decimal from 0 to 2^128-1",
                       r->explicit_hash);
        }
        return LM_OK;
    }
    *h = md5_u128(r->pkey, klen);
    return LM_OK;
}

/* Store one checked record in stream s; out gets its shard and number. */
static int put_checked(mq *m, const stream_row *s, const mq_record_in *r, u128 h, int64_t now_ms,
                       mq_record_out *out, lm_error *e)
{
    char hx[33];
    u128_hex(h, hx);
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT shard FROM mq_shards WHERE sid = ? AND end_seq IS NULL "
                               "AND start_hash <= ? ORDER BY start_hash DESC LIMIT 1",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, s->sid);
    sqlite3_bind_text(st, 2, hx, -1, SQLITE_TRANSIENT);
    int k = mq_step(m, st, e);
    if (k != 1) {
        return k < 0 ? LM_E_IO
                     : proto_error(e, LM_E_INTERNAL, "stream %s: no open shard holds %s", s->name,
                                   hx);
    }
    int64_t shard = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    /* arrival never goes back within a shard */
    int64_t arrival = now_ms;
    st = mq_stmt(m,
                 "SELECT arrival_ms FROM mq_records WHERE sid = ? AND shard = ? "
                 "ORDER BY seq DESC LIMIT 1",
                 e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, s->sid);
    sqlite3_bind_int64(st, 2, shard);
    k = mq_step(m, st, e);
    if (k < 0) {
        return LM_E_IO;
    }
    if (k == 1) {
        int64_t last = sqlite3_column_int64(st, 0);
        arrival = last > arrival ? last : arrival;
        sqlite3_reset(st);
    }
    st = mq_stmt(m,
                 "INSERT INTO mq_records(sid, shard, arrival_ms, pkey, data) "
                 "VALUES(?, ?, ?, ?, ?)",
                 e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, s->sid);
    sqlite3_bind_int64(st, 2, shard);
    sqlite3_bind_int64(st, 3, arrival);
    sqlite3_bind_text(st, 4, r->pkey, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, r->len > 0 ? (const void *)r->data : "", (int)r->len, SQLITE_STATIC);
    if (mq_done(m, st, e) != LM_OK) {
        return LM_E_IO;
    }
    shard_id(shard, out->shard_id);
    seq_text(sqlite3_last_insert_rowid(m->db), out->seq);
    out->err.code = LM_OK;
    return LM_OK;
}

static int put_in(mq *m, const char *stream, const mq_record_in *r, int64_t now_ms,
                  mq_record_out *out, lm_error *e)
{
    stream_row s;
    u128 h = 0;
    int rc = open_stream(m, stream, &s, e);
    if (rc == LM_OK) {
        rc = check_record(r, &h, e);
    }
    return rc != LM_OK ? rc : put_checked(m, &s, r, h, now_ms, out, e);
}

int mq_stream_put(mq *m, const char *stream, const mq_record_in *r, int64_t now_ms,
                  mq_record_out *out, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    return rc != LM_OK ? rc : mq_op_end(m, put_in(m, stream, r, now_ms, out, e), e);
}

static int put_batch_in(mq *m, const char *stream, const mq_record_in *r, size_t n, int64_t now_ms,
                        mq_record_out *out, size_t *failed, lm_error *e)
{
    stream_row s;
    int rc = open_stream(m, stream, &s, e);
    if (rc != LM_OK) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        u128 h = 0;
        memset(&out[i], 0, sizeof(out[i]));
        if (check_record(&r[i], &h, &out[i].err) != LM_OK) {
            (*failed)++;
            continue;
        }
        rc = put_checked(m, &s, &r[i], h, now_ms, &out[i], e);
        if (rc != LM_OK) {
            return rc; /* the store failed: nothing of the call stays */
        }
    }
    return LM_OK;
}

int mq_stream_put_batch(mq *m, const char *stream, const mq_record_in *r, size_t n, int64_t now_ms,
                        mq_record_out *out, size_t *failed, lm_error *e)
{
    size_t nf = 0, total = 0;
    if (failed != NULL) {
        *failed = 0;
    }
    if (n == 0 || n > MQ_STREAM_BATCH_MAX) {
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                           "Records must hold 1-%d records, not %zu", MQ_STREAM_BATCH_MAX, n);
    }
    for (size_t i = 0; i < n; i++) {
        total += r[i].len + (r[i].pkey != NULL ? strlen(r[i].pkey) : 0);
    }
    if (total > MQ_STREAM_BATCH_BYTES_MAX) {
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                           "Records are %zu bytes together, above the limit of %d", total,
                           MQ_STREAM_BATCH_BYTES_MAX);
    }
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_op_end(m, put_batch_in(m, stream, r, n, now_ms, out, &nf, e), e);
    if (rc == LM_OK && failed != NULL) {
        *failed = nf;
    }
    return rc;
}

/* ---- iterators ---- */

int mq_iter_type_parse(const char *s)
{
    static const char *const names[] = {"TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER",
                                        "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP"};
    for (int i = 0; s != NULL && i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static int iterator_key(mq *m, char key[65], lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT value FROM meta WHERE key = 'stream_iterator_key'", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    int r = mq_step(m, st, e);
    if (r != 1) {
        return r < 0 ? LM_E_IO : proto_error(e, LM_E_IO, "streams: no iterator key in the store");
    }
    snprintf(key, 65, "%s", mq_col_text(st, 0));
    sqlite3_reset(st);
    return LM_OK;
}

static void iterator_mac(const char *key, const char *fields, char mac[17])
{
    char buf[160], h[65];
    int n = snprintf(buf, sizeof(buf), "%s|%s", key, fields);
    mq_sha256_hex(buf, (size_t)n, h);
    memcpy(mac, h, 16);
    mac[16] = '\0';
}

static int make_iterator(mq *m, int64_t sid, int64_t shard, int64_t pos, int64_t now_ms,
                         char out[MQ_STREAM_ITERATOR_MAX], lm_error *e)
{
    char key[65], fields[96], mac[17], text[128];
    if (iterator_key(m, key, e) != LM_OK) {
        return LM_E_IO;
    }
    mq_fmt(fields, "%" PRId64 ".%" PRId64 ".%" PRId64 ".%" PRId64, sid, shard, pos, now_ms);
    iterator_mac(key, fields, mac);
    int n = mq_fmt(text, "%s.%s", fields, mac);
    char *b = util_base64(text, (size_t)n);
    if (b == NULL) {
        return proto_error(e, LM_E_NOMEM, NULL);
    }
    snprintf(out, MQ_STREAM_ITERATOR_MAX, "%s", b);
    free(b);
    return LM_OK;
}

typedef struct iter {
    int64_t sid, shard, pos, issued;
} iter;

static int invalid_iterator(lm_error *e)
{
    return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                       "ShardIterator is not a shard iterator of this broker");
}

static bool parse_i64(const char **p, char stop, int64_t *out)
{
    const char *s = *p;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 19 || s[n] != stop) { /* 19: any int64 position */
        return false;
    }
    errno = 0;
    *out = strtoll(s, NULL, 10);
    if (errno == ERANGE) {
        return false;
    }
    *p = s + n + 1;
    return true;
}

/* Check and decode an iterator (not its expiry). */
static int decode_iterator(mq *m, const char *it, iter *out, lm_error *e)
{
    size_t len = it != NULL ? strlen(it) : 0;
    if (len == 0 || len >= MQ_STREAM_ITERATOR_MAX) {
        return invalid_iterator(e);
    }
    unsigned char *raw = NULL;
    size_t n = 0;
    if (mq_unbase64(it, len, &raw, &n) != 0) {
        return n == SIZE_MAX ? proto_error(e, LM_E_NOMEM, NULL) : invalid_iterator(e);
    }
    char text[MQ_STREAM_ITERATOR_MAX];
    bool ok = n < sizeof(text) && memchr(raw, '\0', n) == NULL;
    if (ok) {
        memcpy(text, raw, n);
        text[n] = '\0';
    }
    free(raw);
    const char *p = text;
    if (!ok || !parse_i64(&p, '.', &out->sid) || !parse_i64(&p, '.', &out->shard) ||
        !parse_i64(&p, '.', &out->pos) || !parse_i64(&p, '.', &out->issued) || strlen(p) != 16) {
        return invalid_iterator(e);
    }
    char key[65], mac[17];
    if (iterator_key(m, key, e) != LM_OK) {
        return LM_E_IO;
    }
    text[p - text - 1] = '\0';
    iterator_mac(key, text, mac);
    return strcmp(mac, p) == 0 ? LM_OK : invalid_iterator(e);
}

/* The first live (unexpired) record's sequence number of a shard at or
 * after arrival `since`; *found false when there is none. */
static int first_since(mq *m, int64_t sid, int64_t shard, int64_t since, int64_t *seq, bool *found,
                       lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT seq FROM mq_records WHERE sid = ? AND shard = ? "
                               "AND arrival_ms >= ? ORDER BY arrival_ms, seq LIMIT 1",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, shard);
    sqlite3_bind_int64(st, 3, since);
    int r = mq_step(m, st, e);
    if (r < 0) {
        return LM_E_IO;
    }
    *found = r == 1;
    if (r == 1) {
        *seq = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    return LM_OK;
}

int mq_stream_iterator(mq *m, const char *stream, const char *shard, mq_iter_type type,
                       const char *seq, int64_t ts_ms, int64_t now_ms,
                       char out[MQ_STREAM_ITERATOR_MAX], lm_error *e)
{
    stream_row s;
    shard_row sh;
    int rc = open_stream(m, stream, &s, e);
    if (rc == LM_OK) {
        rc = open_shard(m, &s, shard, &sh, e);
    }
    if (rc != LM_OK) {
        return rc;
    }
    int64_t pos = 0, at = 0;
    bool found = false;
    switch (type) {
    case MQ_ITER_TRIM_HORIZON: pos = 0; break;
    case MQ_ITER_LATEST:
        if (last_seq(m, &pos, e) != LM_OK) {
            return LM_E_IO;
        }
        pos++;
        break;
    case MQ_ITER_AT_SEQUENCE:
    case MQ_ITER_AFTER_SEQUENCE:
        at = parse_seq(seq);
        if (at < 0 || at == INT64_MAX) {
            return bad(e, "StartingSequenceNumber %s is not a sequence number",
                       seq != NULL ? seq : "(none)");
        }
        pos = type == MQ_ITER_AT_SEQUENCE ? at : at + 1;
        break;
    case MQ_ITER_AT_TIMESTAMP:
        if (ts_ms < 0) {
            return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                               "Timestamp must be a time (epoch seconds)");
        }
        if (first_since(m, s.sid, sh.shard, ts_ms, &pos, &found, e) != LM_OK) {
            return LM_E_IO;
        }
        if (!found && last_seq(m, &pos, e) == LM_OK) {
            pos++; /* after everything stored so far */
        } else if (!found) {
            return LM_E_IO;
        }
        break;
    default: return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT, "ShardIteratorType is not valid");
    }
    return make_iterator(m, s.sid, sh.shard, pos, now_ms, out, e);
}

/* ---- get-records ---- */

void mq_records_finish(mq_records *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].pkey);
        free(r->v[i].data);
    }
    free(r->v);
    cJSON_Delete(r->children);
    memset(r, 0, sizeof(*r));
}

/* The records of the shard from pos on, up to limit and the byte cap. */
static int read_records(mq *m, const iter *it, int64_t pos, int limit, mq_records *out, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT seq, arrival_ms, pkey, data FROM mq_records "
                               "WHERE sid = ? AND shard = ? AND seq >= ? ORDER BY seq LIMIT ?",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, it->sid);
    sqlite3_bind_int64(st, 2, it->shard);
    sqlite3_bind_int64(st, 3, pos);
    sqlite3_bind_int(st, 4, limit);
    size_t cap = 0, bytes = 0;
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        size_t len = (size_t)sqlite3_column_bytes(st, 3);
        if (out->n > 0 && bytes + len > MQ_STREAM_GET_BYTES_MAX) {
            sqlite3_reset(st);
            break;
        }
        if (out->n == cap) {
            size_t nc = cap == 0 ? 16 : cap * 2;
            mq_record *v = realloc(out->v, nc * sizeof(*v));
            if (v == NULL) {
                sqlite3_reset(st);
                return proto_error(e, LM_E_NOMEM, NULL);
            }
            out->v = v;
            cap = nc;
        }
        mq_record *rec = &out->v[out->n];
        memset(rec, 0, sizeof(*rec));
        seq_text(sqlite3_column_int64(st, 0), rec->seq);
        rec->arrival_ms = sqlite3_column_int64(st, 1);
        rec->pkey = strdup(mq_col_text(st, 2));
        rec->data = malloc(len + 1);
        rec->len = len;
        out->n++;
        if (rec->pkey == NULL || rec->data == NULL) {
            sqlite3_reset(st);
            return proto_error(e, LM_E_NOMEM, NULL);
        }
        if (len > 0) {
            memcpy(rec->data, sqlite3_column_blob(st, 3), len);
        }
        bytes += len;
    }
    return r < 0 ? LM_E_IO : LM_OK;
}

/* The arrival of the first record at or after pos (*found false: none). */
static int next_arrival(mq *m, const iter *it, int64_t pos, int64_t *arrival, bool *found,
                        lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT arrival_ms FROM mq_records WHERE sid = ? AND shard = ? "
                               "AND seq >= ? ORDER BY seq LIMIT 1",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, it->sid);
    sqlite3_bind_int64(st, 2, it->shard);
    sqlite3_bind_int64(st, 3, pos);
    int r = mq_step(m, st, e);
    if (r < 0) {
        return LM_E_IO;
    }
    *found = r == 1;
    if (r == 1) {
        *arrival = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    return LM_OK;
}

/* ChildShards of a closed shard: [{ShardId, ParentShards[], HashKeyRange}]. */
static cJSON *children_json(mq *m, const iter *it, lm_error *e)
{
    sqlite3_stmt *st =
        mq_stmt(m, SHARD_COLS "WHERE sid = ? AND (parent = ? OR adjacent = ?) ORDER BY shard", e);
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, it->sid);
    sqlite3_bind_int64(st, 2, it->shard);
    sqlite3_bind_int64(st, 3, it->shard);
    cJSON *list = cJSON_CreateArray();
    int r;
    while ((r = mq_step(m, st, e)) == 1) {
        shard_row sh;
        read_shard(st, &sh);
        cJSON *full = shard_json(&sh), *c = cJSON_CreateObject();
        char id[MQ_STREAM_SHARD_ID_LEN + 1];
        shard_id(sh.shard, id);
        cJSON_AddStringToObject(c, "ShardId", id);
        cJSON *ps = cJSON_AddArrayToObject(c, "ParentShards");
        shard_id(sh.parent, id);
        cJSON_AddItemToArray(ps, cJSON_CreateString(id));
        if (sh.adjacent >= 0) {
            shard_id(sh.adjacent, id);
            cJSON_AddItemToArray(ps, cJSON_CreateString(id));
        }
        cJSON_AddItemToObject(c, "HashKeyRange", cJSON_DetachItemFromObject(full, "HashKeyRange"));
        cJSON_Delete(full);
        cJSON_AddItemToArray(list, c);
    }
    if (r < 0) {
        cJSON_Delete(list);
        return NULL;
    }
    return list;
}

static int get_in(mq *m, const iter *it, int limit, int64_t now_ms, mq_records *out, lm_error *e)
{
    stream_row s;
    shard_row sh;
    int r = load_stream_by_sid(m, it->sid, &s, e);
    if (r <= 0) {
        return r < 0 ? LM_E_IO
                     : proto_error(e, LM_E_NOT_FOUND,
                                   "The stream of this ShardIterator no longer exists");
    }
    r = load_shard(m, it->sid, it->shard, &sh, e);
    if (r <= 0) {
        char id[MQ_STREAM_SHARD_ID_LEN + 1];
        shard_id(it->shard, id);
        return r < 0 ? LM_E_IO : shard_not_found(e, id, &s);
    }
    /* retention: start at the first live record when pos is before it */
    int64_t cutoff = now_ms - (int64_t)s.retention_h * HOUR_MS, first = 0, pos = it->pos;
    bool live = false;
    if (first_since(m, it->sid, it->shard, cutoff, &first, &live, e) != LM_OK) {
        return LM_E_IO;
    }
    if (!live) { /* nothing live: nothing before the counter can be read */
        int64_t last = 0;
        if (last_seq(m, &last, e) != LM_OK) {
            return LM_E_IO;
        }
        first = last + 1;
    }
    pos = pos > first ? pos : first;
    if (read_records(m, it, pos, limit, out, e) != LM_OK) {
        return e->code;
    }
    int64_t next = out->n > 0 ? strtoll(out->v[out->n - 1].seq, NULL, 10) + 1 : pos, arrival = 0;
    bool more = false;
    if (next_arrival(m, it, next, &arrival, &more, e) != LM_OK) {
        return LM_E_IO;
    }
    out->behind_ms = more && now_ms > arrival ? now_ms - arrival : 0;
    if (sh.end_seq >= 0 && !more) { /* a closed shard read to its end */
        out->next[0] = '\0';
        out->children = children_json(m, it, e);
        return out->children != NULL ? LM_OK : LM_E_IO;
    }
    iter n = *it;
    n.pos = next;
    return make_iterator(m, n.sid, n.shard, n.pos, now_ms, out->next, e);
}

int mq_stream_get_records(mq *m, const char *iterator, int limit, int64_t now_ms, mq_records *out,
                          lm_error *e)
{
    memset(out, 0, sizeof(*out));
    if (limit < 1 || limit > MQ_STREAM_GET_MAX) {
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT, "Limit %d must be from 1 to %d", limit,
                           MQ_STREAM_GET_MAX);
    }
    iter it;
    int rc = decode_iterator(m, iterator, &it, e);
    if (rc != LM_OK) {
        return rc;
    }
    if (now_ms - it.issued > MQ_STREAM_ITERATOR_TTL_MS) {
        return proto_error(e, LM_E_EXPIRED_ITERATOR,
                           "Iterator expired. The iterator was created at time %" PRId64
                           " while right now it is %" PRId64 " which is further in the future "
                           "than the tolerated delay of %d milliseconds.",
                           it.issued, now_ms, MQ_STREAM_ITERATOR_TTL_MS);
    }
    rc = mq_op_begin(m, e); /* a read, but one snapshot */
    if (rc != LM_OK) {
        return rc;
    }
    rc = mq_op_end(m, get_in(m, &it, limit, now_ms, out, e), e);
    if (rc != LM_OK) {
        mq_records_finish(out);
    }
    return rc;
}

/* ---- reshard ---- */

static int close_shard(mq *m, int64_t sid, int64_t shard, int64_t end_seq, int64_t now_ms,
                       lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m,
                               "UPDATE mq_shards SET end_seq = ?, closed_ms = ? "
                               "WHERE sid = ? AND shard = ?",
                               e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, end_seq);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, sid);
    sqlite3_bind_int64(st, 4, shard);
    return mq_done(m, st, e);
}

static int bump_stream(mq *m, int64_t sid, int64_t next_shard, int64_t n_open, lm_error *e)
{
    sqlite3_stmt *st =
        mq_stmt(m, "UPDATE mq_streams SET next_shard = ?, n_open = ? WHERE sid = ?", e);
    if (st == NULL) {
        return LM_E_IO;
    }
    sqlite3_bind_int64(st, 1, next_shard);
    sqlite3_bind_int64(st, 2, n_open);
    sqlite3_bind_int64(st, 3, sid);
    return mq_done(m, st, e);
}

static int not_open(lm_error *e, const char *shard, const stream_row *s)
{
    char q[64];
    return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                       "Shard %s in stream %s under account %s has already been merged or split, "
                       "and thus is not eligible for merging or splitting",
                       mq_q(q, sizeof(q), shard), s->name, MQ_ARN_ACCOUNT);
}

static int split_in(mq *m, const char *stream, const char *shard, const char *new_start,
                    int64_t now_ms, lm_error *e)
{
    stream_row s;
    shard_row sh;
    u128 key = 0;
    int64_t last = 0;
    int rc = open_stream(m, stream, &s, e);
    if (rc == LM_OK) {
        rc = open_shard(m, &s, shard, &sh, e);
    }
    if (rc != LM_OK) {
        return rc;
    }
    if (sh.end_seq >= 0) {
        return not_open(e, shard, &s);
    }
    u128 lo = hex_u128(sh.start), hi = hex_u128(sh.end);
    if (!dec_u128(new_start, &key) || key <= lo || key > hi) {
        return bad(e,
                   "NewStartingHashKey %s must be a decimal above the shard's StartingHashKey "
                   "and at most its EndingHashKey",
                   new_start != NULL ? new_start : "(none)");
    }
    if (s.n_open + 1 > MQ_STREAM_SHARDS_MAX) {
        return proto_error(e, LM_E_LIMIT_EXCEEDED, "Stream %s would have more than %d open shards",
                           s.name, MQ_STREAM_SHARDS_MAX);
    }
    if (last_seq(m, &last, e) != LM_OK ||
        close_shard(m, s.sid, sh.shard, last, now_ms, e) != LM_OK ||
        insert_shard(m, s.sid, s.next_shard, lo, key - 1, sh.shard, -1, last + 1, e) != LM_OK ||
        insert_shard(m, s.sid, s.next_shard + 1, key, hi, sh.shard, -1, last + 1, e) != LM_OK) {
        return LM_E_IO;
    }
    return bump_stream(m, s.sid, s.next_shard + 2, s.n_open + 1, e);
}

int mq_stream_split(mq *m, const char *stream, const char *shard, const char *new_start,
                    int64_t now_ms, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    return rc != LM_OK ? rc : mq_op_end(m, split_in(m, stream, shard, new_start, now_ms, e), e);
}

static int merge_in(mq *m, const char *stream, const char *shard, const char *adjacent,
                    int64_t now_ms, lm_error *e)
{
    stream_row s;
    shard_row a, b;
    int64_t last = 0;
    int rc = open_stream(m, stream, &s, e);
    if (rc == LM_OK) {
        rc = open_shard(m, &s, shard, &a, e);
    }
    if (rc == LM_OK) {
        rc = open_shard(m, &s, adjacent, &b, e);
    }
    if (rc != LM_OK) {
        return rc;
    }
    if (a.end_seq >= 0 || b.end_seq >= 0) {
        return not_open(e, a.end_seq >= 0 ? shard : adjacent, &s);
    }
    u128 alo = hex_u128(a.start), ahi = hex_u128(a.end), blo = hex_u128(b.start),
         bhi = hex_u128(b.end);
    bool adj = (ahi != U128_MAX && ahi + 1 == blo) || (bhi != U128_MAX && bhi + 1 == alo);
    if (a.shard == b.shard || !adj) {
        char q1[64], q2[64];
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                           "Shards %s and %s in stream %s are not adjacent",
                           mq_q(q1, sizeof(q1), shard), mq_q(q2, sizeof(q2), adjacent), s.name);
    }
    u128 lo = alo < blo ? alo : blo, hi = ahi > bhi ? ahi : bhi;
    if (last_seq(m, &last, e) != LM_OK ||
        close_shard(m, s.sid, a.shard, last, now_ms, e) != LM_OK ||
        close_shard(m, s.sid, b.shard, last, now_ms, e) != LM_OK ||
        insert_shard(m, s.sid, s.next_shard, lo, hi, a.shard, b.shard, last + 1, e) != LM_OK) {
        return LM_E_IO;
    }
    return bump_stream(m, s.sid, s.next_shard + 1, s.n_open - 1, e);
}

int mq_stream_merge(mq *m, const char *stream, const char *shard, const char *adjacent,
                    int64_t now_ms, lm_error *e)
{
    int rc = mq_op_begin(m, e);
    return rc != LM_OK ? rc : mq_op_end(m, merge_in(m, stream, shard, adjacent, now_ms, e), e);
}

/* ---- sweep ---- */

/* Delete up to *left rows of sql (bound: sid[, shard, cutoff]); *left -= n. */
static int sweep_rows(mq *m, const char *sql, int64_t sid, int64_t shard, int64_t cutoff,
                      size_t *left, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, sql, e);
    if (st == NULL) {
        return LM_E_IO;
    }
    int np = sqlite3_bind_parameter_count(st);
    sqlite3_bind_int64(st, 1, sid);
    if (np == 4) {
        sqlite3_bind_int64(st, 2, shard);
        sqlite3_bind_int64(st, 3, cutoff);
    }
    sqlite3_bind_int64(st, np, (int64_t)*left);
    if (mq_done(m, st, e) != LM_OK) {
        return LM_E_IO;
    }
    size_t n = (size_t)sqlite3_changes(m->db);
    *left -= n < *left ? n : *left;
    return LM_OK;
}

static int sweep_detached(mq *m, size_t *left, bool *more, lm_error *e)
{
    sqlite3_stmt *st = mq_stmt(m, "SELECT sid FROM mq_stream_detached LIMIT 1", e);
    while (st != NULL && *left > 0) {
        int r = mq_step(m, st, e);
        if (r <= 0) {
            return r < 0 ? LM_E_IO : LM_OK;
        }
        int64_t sid = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        size_t before = *left;
        if (sweep_rows(m,
                       "DELETE FROM mq_records WHERE seq IN (SELECT seq FROM mq_records "
                       "WHERE sid = ? LIMIT ?)",
                       sid, 0, 0, left, e) != LM_OK) {
            return LM_E_IO;
        }
        if (*left > 0 && *left == before) { /* nothing left of it */
            sqlite3_stmt *d = mq_stmt(m, "DELETE FROM mq_stream_detached WHERE sid = ?", e);
            if (d == NULL) {
                return LM_E_IO;
            }
            sqlite3_bind_int64(d, 1, sid);
            if (mq_done(m, d, e) != LM_OK) {
                return LM_E_IO;
            }
        }
        st = mq_stmt(m, "SELECT sid FROM mq_stream_detached LIMIT 1", e);
    }
    if (st == NULL) {
        return LM_E_IO;
    }
    *more = *more || *left == 0;
    return LM_OK;
}

/* One stream's expired records and dead closed shards. */
static int sweep_stream(mq *m, int64_t sid, int retention_h, int64_t now_ms, size_t *left,
                        lm_error *e)
{
    int64_t cutoff = now_ms - (int64_t)retention_h * HOUR_MS;
    sqlite3_stmt *st = mq_stmt(m,
                               "SELECT shard, coalesce(end_seq, -1), coalesce(closed_ms, -1) "
                               "FROM mq_shards WHERE sid = ? AND shard > ? ORDER BY shard LIMIT 1",
                               e);
    int64_t after = -1;
    while (st != NULL && *left > 0) {
        sqlite3_bind_int64(st, 1, sid);
        sqlite3_bind_int64(st, 2, after);
        int r = mq_step(m, st, e);
        if (r <= 0) {
            return r < 0 ? LM_E_IO : LM_OK;
        }
        int64_t shard = sqlite3_column_int64(st, 0), end_seq = sqlite3_column_int64(st, 1),
                closed = sqlite3_column_int64(st, 2);
        sqlite3_reset(st);
        after = shard;
        if (sweep_rows(m,
                       "DELETE FROM mq_records WHERE seq IN (SELECT seq FROM mq_records "
                       "WHERE sid = ? AND shard = ? AND arrival_ms < ? "
                       "ORDER BY arrival_ms LIMIT ?)",
                       sid, shard, cutoff, left, e) != LM_OK) {
            return LM_E_IO;
        }
        if (end_seq >= 0 && closed<cutoff && * left> 0) {
            /* closed before the cutoff: every record of it has expired */
            bool live = false;
            int64_t first = 0;
            if (first_since(m, sid, shard, INT64_MIN, &first, &live, e) != LM_OK) {
                return LM_E_IO;
            }
            if (!live) {
                sqlite3_stmt *d =
                    mq_stmt(m, "DELETE FROM mq_shards WHERE sid = ? AND shard = ?", e);
                if (d == NULL) {
                    return LM_E_IO;
                }
                sqlite3_bind_int64(d, 1, sid);
                sqlite3_bind_int64(d, 2, shard);
                if (mq_done(m, d, e) != LM_OK) {
                    return LM_E_IO;
                }
            }
        }
        st = mq_stmt(m,
                     "SELECT shard, coalesce(end_seq, -1), coalesce(closed_ms, -1) "
                     "FROM mq_shards WHERE sid = ? AND shard > ? ORDER BY shard LIMIT 1",
                     e);
    }
    return st == NULL ? LM_E_IO : LM_OK;
}

static int sweep_streams(mq *m, int64_t now_ms, size_t *left, lm_error *e)
{
    int64_t after = 0;
    for (;;) {
        sqlite3_stmt *st = mq_stmt(m,
                                   "SELECT sid, retention_h FROM mq_streams WHERE sid > ? "
                                   "ORDER BY sid LIMIT 1",
                                   e);
        if (st == NULL) {
            return LM_E_IO;
        }
        sqlite3_bind_int64(st, 1, after);
        int r = mq_step(m, st, e);
        if (r <= 0 || *left == 0) {
            if (r == 1) {
                sqlite3_reset(st);
            }
            return r < 0 ? LM_E_IO : LM_OK;
        }
        int64_t sid = sqlite3_column_int64(st, 0);
        int ret = sqlite3_column_int(st, 1);
        sqlite3_reset(st);
        after = sid;
        if (sweep_stream(m, sid, ret, now_ms, left, e) != LM_OK) {
            return LM_E_IO;
        }
    }
}

int mq_stream_sweep(mq *m, int64_t now_ms, size_t budget, bool *more, lm_error *e)
{
    bool mo = false;
    size_t left = budget;
    int rc = mq_op_begin(m, e);
    if (rc != LM_OK) {
        return rc;
    }
    rc = sweep_detached(m, &left, &mo, e);
    if (rc == LM_OK && left > 0) {
        rc = sweep_streams(m, now_ms, &left, e);
    }
    mo = mo || left == 0;
    rc = mq_op_end(m, rc, e);
    if (more != NULL) {
        *more = rc == LM_OK && mo;
    }
    return rc;
}

/* ---- the PutRecords decoder ---- */

void mq_stream_batch_finish(mq_stream_batch *b)
{
    if (b == NULL) {
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        free(b->bytes[i]);
    }
    cJSON_Delete(b->root);
    b->root = NULL;
    b->n = 0;
}

int mq_stream_batch_parse(const char *json, size_t len, mq_stream_batch *b, lm_error *e)
{
    b->root = NULL;
    b->n = 0;
    cJSON *root = mq_json_parse(json, len, LM_E_STREAM_INVALID_ARGUMENT, "Records", e);
    if (root == NULL) {
        return e->code;
    }
    b->root = root;
    int n = cJSON_IsArray(root) ? cJSON_GetArraySize(root) : -1;
    if (n < 1 || n > MQ_STREAM_BATCH_MAX) {
        return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                           "Records must be a list of 1-%d records", MQ_STREAM_BATCH_MAX);
    }
    for (const cJSON *o = root->child; o != NULL; o = o->next) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "Data");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "PartitionKey");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "ExplicitHashKey");
        size_t i = b->n;
        if (!cJSON_IsObject(o) || !cJSON_IsString(d) || !cJSON_IsString(k) ||
            (h != NULL && !cJSON_IsNull(h) && !cJSON_IsString(h))) {
            return proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                               "Records[%zu] must be {\"Data\": base64, \"PartitionKey\": "
                               "string[, \"ExplicitHashKey\": string]}",
                               i);
        }
        size_t dn = 0;
        if (mq_unbase64(d->valuestring, strlen(d->valuestring), &b->bytes[i], &dn) != 0) {
            return dn == SIZE_MAX ? proto_error(e, LM_E_NOMEM, NULL)
                                  : proto_error(e, LM_E_STREAM_INVALID_ARGUMENT,
                                                "Records[%zu].Data is not base64", i);
        }
        b->r[i] = (mq_record_in){.pkey = k->valuestring,
                                 .data = b->bytes[i],
                                 .len = dn,
                                 .explicit_hash = cJSON_IsString(h) ? h->valuestring : NULL};
        b->n++;
    }
    return LM_OK;
}
