/*
 * tests/fuzz/fuzz_worker.c — libFuzzer target for the worker protocol.
 *
 * Input: one selector byte, then either
 *   - even: the body of a worker's message (hello, or NEXT with its init
 *     report or result), decoded as the broker decodes it: proto_decode,
 *     op, token and pid (broker/work.c), proto_read_init and
 *     proto_read_result (broker/pool.c, broker/invoke.c);
 *   - odd: bytes arriving on a runtime's work connection, read by
 *     runtime/wire.c's framing (wire_recv, over a socketpair closed after
 *     the input) until it reports an error; every frame it yields is then
 *     decoded as above.  Frames use request id 0x80000001.
 *
 * Aborts on a broken invariant: a reader's pointer outside the message
 * (or not its documented default), a FunctionError other than the two
 * names, an unterminated copy, or wire_recv returning a message with an
 * error code or a body over its cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "wire.h"

#define FUZZ_RECVMAX (1u << 20)
#define FUZZ_STREAM_MAX 65536 /* fits a socketpair's buffer: writing never blocks */

static int inside(const void *p, size_t n, const uint8_t *buf, size_t len)
{
    const uint8_t *q = p;
    return q >= buf && q + n <= buf + len;
}

static void broker_side(const uint8_t *buf, size_t len)
{
    proto_doc doc;
    lm_error e;
    const char *op = NULL, *tok = NULL;
    size_t ol = 0, tl = 0;
    int64_t pid = 0;
    if (proto_decode(buf, len, &doc, &e) != LM_OK) {
        if (e.message[0] == '\0') {
            abort();
        }
        proto_doc_finish(&doc);
        return;
    }
    proto_get_str(doc.root, "op", true, &op, &ol, &e);
    proto_get_str(doc.root, "token", true, &tok, &tl, NULL);
    proto_get_int(doc.root, "pid", true, &pid, NULL);
    if ((op != NULL && !inside(op, ol, buf, len)) || (tok != NULL && !inside(tok, tl, buf, len))) {
        abort();
    }
    proto_init_report ir;
    proto_read_init(proto_find(doc.root, "init"), &ir);
    if (strlen(ir.type) >= sizeof(ir.type) || strlen(ir.message) >= sizeof(ir.message) ||
        (ir.log != NULL && !inside(ir.log, ir.log_len, buf, len)) ||
        (ir.log == NULL && ir.log_len != 0)) {
        abort();
    }
    proto_result r;
    proto_read_result(proto_find(doc.root, "result"), &r);
    bool null_payload = r.payload_len == 4 && memcmp(r.payload, "null", 4) == 0;
    if (r.payload == NULL || (!null_payload && !inside(r.payload, r.payload_len, buf, len)) ||
        r.log == NULL || (r.log_len > 0 && !inside(r.log, r.log_len, buf, len)) ||
        (r.rid != NULL && !inside(r.rid, r.rid_len, buf, len))) {
        abort();
    }
    if (r.ferr != NULL && strcmp(r.ferr, "Handled") != 0 && strcmp(r.ferr, "Unhandled") != 0) {
        abort();
    }
    proto_doc_finish(&doc);
}

static void stream(const uint8_t *data, size_t size)
{
    int sv[2];
    wire w;
    if (size > FUZZ_STREAM_MAX) {
        size = FUZZ_STREAM_MAX;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        abort();
    }
    int big = 4 * FUZZ_STREAM_MAX;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if (size > 0 && write(sv[1], data, size) != (ssize_t)size) {
        abort();
    }
    shutdown(sv[1], SHUT_WR);
    memset(&w, 0, sizeof(w));
    w.fd = sv[0];
    w.recvmax = FUZZ_RECVMAX;
    w.last_id = 0x80000001u;
    w.rcap = 16384;
    w.rbuf = malloc(w.rcap);
    if (w.rbuf == NULL) {
        abort();
    }
    for (int frames = 0; frames < 64; frames++) {
        nng_msg *m = NULL;
        int rv = wire_recv(&w, &m, 1000);
        if (rv != 0) {
            if (m != NULL) {
                abort();
            }
            break;
        }
        if (m == NULL || nng_msg_len(m) > FUZZ_RECVMAX) {
            abort();
        }
        broker_side(nng_msg_body(m), nng_msg_len(m));
        nng_msg_free(m);
    }
    wire_close(&w); /* closes sv[0] */
    close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    if ((data[0] & 1) == 0) {
        broker_side(data + 1, size - 1);
    } else {
        stream(data + 1, size - 1);
    }
    return 0;
}
