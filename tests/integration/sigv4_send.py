#!/usr/bin/python3
"""Send one SigV4-signed request the way the AWS SDKs sign it (botocore,
Debian's python3-boto3), for tests/integration/test_http.c.

usage: sigv4_send.py METHOD URL KEY_ID SECRET BODY [options]
  --region R          the scope's region (default us-east-1)
  --tamper-body B     sign BODY, send B
  --tamper-header H:V sign, then change header H to V
  --save FILE         also write the signed request (JSON) to FILE
  --replay FILE       send the request saved in FILE unchanged (ignores the rest)
Prints the status, a newline, and the body.  Exit 0 whenever an answer came.
"""
import json
import sys
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials


def send(method, url, headers, body):
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main(argv):
    opts = {}
    args = []
    i = 1
    while i < len(argv):
        if argv[i].startswith("--"):
            opts[argv[i]] = argv[i + 1]
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if "--replay" in opts:
        saved = json.load(open(opts["--replay"]))
        status, body = send(saved["method"], saved["url"], saved["headers"],
                            saved["body"].encode())
    else:
        method, url, key, secret, body = args
        req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body.encode(),
                                             headers={"Content-Type": "application/json"})
        creds = botocore.credentials.Credentials(key, secret)
        botocore.auth.SigV4Auth(creds, "lambda", opts.get("--region", "us-east-1")).add_auth(req)
        p = req.prepare()
        headers = dict(p.headers)
        data = p.body if isinstance(p.body, bytes) else (p.body or "").encode()
        if "--tamper-body" in opts:
            data = opts["--tamper-body"].encode()
        if "--tamper-header" in opts:
            k, _, v = opts["--tamper-header"].partition(":")
            headers[k] = v
        if "--save" in opts:
            json.dump({"method": method, "url": p.url, "headers": headers,
                       "body": data.decode()}, open(opts["--save"], "w"))
        status, body = send(method, p.url, headers, data)
    sys.stdout.write("%d\n%s" % (status, body.decode(errors="replace")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
