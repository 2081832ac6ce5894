#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py — write the seed corpora of the fuzz targets
(tests/fuzz/corpus_<name>/) from the examples below.  Run it from anywhere;
it rewrites only the seeds it names (files a fuzzer found are kept).  A
minimal msgpack packer keeps it free of dependencies."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


class Bin(bytes):
    """packs as msgpack bin (bytes pack as str: they may hold any byte)"""


def pack(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, Bin):
        return b"\xc6" + struct.pack(">I", len(v)) + bytes(v)
    if isinstance(v, str):
        v = v.encode("utf-8", "surrogatepass")
    if isinstance(v, bytes):
        n = len(v)
        head = bytes([0xa0 | n]) if n < 32 else b"\xd9" + bytes([n]) if n < 256 else b"\xdb" + struct.pack(">I", n)
        return head + v
    if isinstance(v, list):
        return b"\xdd" + struct.pack(">I", len(v)) + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        return b"\xdf" + struct.pack(">I", len(v)) + b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(v)


def req(op, **fields):
    return pack({"v": 1, "op": op, **fields})


def frame(body, rid=0x80000001):
    return b"\x01" + struct.pack(">Q", len(body) + 4) + struct.pack(">I", rid) + body


ENV = {"Variables": {"GREETING": "hi", "LD_PRELOAD": "/x.so", "A": "1", "K\x00": "v"}}
API = {
    "ping": req("ping"),
    "invoke": req("invoke", fn="echo", q="$LATEST", type=0, tail=True, cc='{"a":1}',
                  payload=Bin(b'{"x":[1,2.5,"\\u0000",null]}')),
    "invoke_event": req("invoke", fn="arn:aws:lambda:us-east-1:123456789012:function:echo:live",
                        type=1, payload=Bin(b'{"a":"caf\xc3\xa9"}')),
    "invoke_bad_payload": req("invoke", fn="echo", payload=Bin(b'{"a":"\x00\xff\xc0\x80\xed\xa0\x80"}')),
    "invoke_str_payload": req("invoke", fn="function:echo:3", payload='{"s":"x\ny"}'),
    "delete_nul": req("delete", args={"FunctionName": b"echo\x00zzz"}),
    "get_arn": req("get", args={"FunctionName": "arn:lamina:local:0:function:echo", "Qualifier": "1"}),
    "create": req("create", args={"FunctionName": "f", "Timeout": 3, "MemorySize": 128,
                                  "Description": "d\u00e9", "Environment": ENV,
                                  "DeadLetterConfig": {"TargetArn": "function:dlq"}},
                  code=Bin(b"\x7fELF\x02\x01\x01")),
    "update_config": req("update-config", args={"FunctionName": "f", "RevisionId": "r" * 36,
                                                "Description": b"\xe2\x82"}),
    "publish": req("publish", args={"FunctionName": "f", "CodeSha256": "ab" * 32}),
    "alias": req("alias-create", args={"FunctionName": "f", "Name": "live", "FunctionVersion": "1",
                                       "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}}}),
    "event_config": req("event-config-put", args={"FunctionName": "f", "MaximumRetryAttempts": 1,
                                                  "DestinationConfig": {"OnSuccess": {"Destination": "g:prod"},
                                                                        "OnFailure": {}}}),
    "event_wait": req("event-wait", args={"RequestId": "0" * 36, "TimeoutMs": 10}),
    "bad_key": pack({"v": 1, "op": "get", b"a\xffb": 1, "args": [b"\xf4\x90\x80\x80"]}),
    "v2": req("get").replace(b"\xa1v\x01", b"\xa1v\x02"),
    "deep": b"\x91" * 20 + b"\x01",
}

NEXT_INIT_OK = req("next", token="t" * 32, pid=1234, init={"log": Bin(b"init\n"), "ok": True,
                                                           "type": "", "message": ""})
NEXT_INIT_BAD = req("next", token="t", pid=1, init={"ok": False, "type": "Runtime.InitError",
                                                    "message": "x" * 2000})
NEXT_RESULT = req("next", token="t", pid=1, result={"rid": "r1", "ferr": "Handled",
                                                    "payload": Bin(b'{"ok":1}'), "log": Bin(b"out\n"),
                                                    "dur_ms": 1.5, "maxrss_mb": 3})
NEXT_ODD = req("next", token=7, pid="x", result={"rid": 1, "ferr": "Handledx", "payload": None,
                                                 "log": "l", "dur_ms": "slow", "maxrss_mb": -1})
WORKER = {
    "hello": b"\x00" + req("hello", token="t", pid=99),
    "init_ok": b"\x00" + NEXT_INIT_OK,
    "init_failed": b"\x00" + NEXT_INIT_BAD,
    "result": b"\x00" + NEXT_RESULT,
    "result_odd_types": b"\x00" + NEXT_ODD,
    "idle": b"\x00" + req("next", token="t", pid=1, idle=True),
    "stream_two": b"\x01" + frame(NEXT_RESULT) + frame(NEXT_INIT_OK),
    "stream_stale_id": b"\x01" + frame(NEXT_RESULT, rid=0x80000000) + frame(NEXT_RESULT),
    "stream_truncated": b"\x01" + frame(NEXT_RESULT)[:20],
    "stream_huge_len": b"\x01\x01" + struct.pack(">Q", 1 << 40) + b"\x80\x00\x00\x01",
    "stream_short_len": b"\x01\x01" + struct.pack(">Q", 2) + b"\x80\x00",
    "stream_bad_type": b"\x01\x02" + frame(b"")[1:],
}

JSONCONV = {
    "object": b'\x00{"FunctionName":"echo","Timeout":3,"Environment":{"Variables":{"A":"1"}}}',
    "numbers": b"\x00[0,-1,1.5,9007199254740993,1e300,-0.0,12345678901234567]",
    "escapes": b'\x00{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00","":""}',
    "nul_escape": b'\x00{"FunctionName":"echo\\u0000zzz"}',
    "deep": b"\x00" + b"[" * 16 + b"1" + b"]" * 16,
    "dupes": b'\x00{"a":1,"a":2,"' + b"k" * 300 + b'":true}',
    "mp_map": b"\x01" + pack({"": "", "b": Bin(b""), "a": [None, True, 1.25, -3, b"x\x00y"]}),
    "mp_ext": b"\x01\x92\xd4\x01\x02\xc7\x01\x05\xaa",
    "mp_intkey": b"\x01\x82\x01\xa1x\xa1k\xca\x3f\x80\x00\x00",
}

STORE = {
    "env": b'{"GREETING":"hi there","MODE":"one"}\x00echo:prod\x00{"a":1}',
    "env_reserved": b'{"LD_PRELOAD":"/tmp/x.so","PATH":"/x","B_2":"two","1X":"v","K":7}\x00'
                    b"arn:aws:lambda:us-east-1:123456789012:function:dst\x00[]",
    "env_not_object": b'["A","B"]\x00function:d:$LATEST\x00null',
    "env_escapes": b'{"A":"x\\u0000y","B":"\\u00e9"}\x00123456789012:function:d:live\x00"s"',
    "bad_dest": b"{}\x00junk:function:echo\x00{\"a\":\x00",
    "empty": b"",
}

SCHED = {
    "rate": b"rate(5 minutes)",
    "rate_one": b"rate(1 day)",
    "cron_noon": b"cron(0 12 * * ? *)",
    "cron_weekdays": b"cron(0/15 9-17 ? * MON-FRI *)",
    "cron_last_fri": b"cron(15 10 ? * 6L 2026-2030)",
    "cron_nth": b"cron(0 9 ? * TUE#2 *)",
    "cron_lw": b"cron(30 6 LW JAN,JUL ? *)",
    "cron_near": b"cron(0 0 15W * ? */2)",
    "cron_feb31": b"cron(0 0 31 2 ? *)",
    "bad_both": b"cron(0 12 1 * MON *)",
}

URLMAP = {
    "req_post": b"qPOST\n/a/b%20c\nx=1&x=2&y=%41&flag\nHost: x\nCookie: a=1; b=2\n"
                b"X-Multi: one\nx-multi: two\nContent-Type: text/plain\n\nhello",
    "req_binary": b"qPUT\n/\n\nContent-Type: application/octet-stream\n\n\x00\x01\xfe\xff",
    "req_badutf8": b"qGET\n/\xff\xfe\n%zz=%\xc3\nUser-Agent: \xc0\xaf\n\n",
    "res_full": b'r{"statusCode":201,"headers":{"X-A":"1","n":2,"t":true},'
                b'"cookies":["c=1"],"body":"aGk=","isBase64Encoded":true}',
    "res_string": b'r"Hello"',
    "res_bad": b'r{"statusCode":200,"headers":{"x":"a\r\nInjected: 1"}}',
    "res_notjson": b"r{not",
    "cors_full": b'c{"AllowOrigins":["https://a.example"],"AllowMethods":["GET"],'
                 b'"AllowHeaders":["x"],"ExposeHeaders":["y"],"MaxAge":60,'
                 b'"AllowCredentials":true}\x00https://a.example',
    "cors_star": b'c{"AllowOrigins":["*"]}\x00https://b.example',
}

SIGV4 = {
    "signed_get": b"GET\n/url/x/a%20b\nb=2&a=1\nHost: h\nX-Amz-Date: 20261207T080030Z\n"
                  b"Authorization: AWS4-HMAC-SHA256 Credential=LMAKTESTTESTTESTTEST/20261207/local/"
                  b"lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + b"0" * 64 + b"\n\n",
    "post_body": b"POST\n/\n\nContent-Type: application/json\nX-Multi:  a   b \nx-multi: c\n\n{\"n\":1}",
    "bad_auth": b"GET\n/\n\nAuthorization: AWS4-HMAC-SHA256 Credential=a/b, Credential=c\n\n",
    "unsigned_payload": b"PUT\n/p\nx\nX-Amz-Content-Sha256: UNSIGNED-PAYLOAD\n\nbody",
}


def write(name, seeds):
    d = os.path.join(HERE, "corpus_" + name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)


if __name__ == "__main__":
    write("api", API)
    write("worker", WORKER)
    write("jsonconv", JSONCONV)
    write("store", STORE)
    write("sched", SCHED)
    write("urlmap", URLMAP)
    write("sigv4", SIGV4)
