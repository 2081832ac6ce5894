#!/usr/bin/python3
"""Drive Lamina's Lambda REST API with boto3 (Debian's python3-boto3), as a
user with an endpoint override would, for tests/integration/test_http.c.

usage: lambda_api_client.py ENDPOINT KEY_ID SECRET ECHO_SO ERROR_SO
Each step asserts what AWS would answer; the first mismatch exits 1 with
the step named.  Prints "ALL OK" at the end.
"""
import base64
import io
import json
import sys
import zipfile

import boto3
import botocore.exceptions
from botocore.config import Config


def zipped(path, name):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(path, name)
    return buf.getvalue()


def client(endpoint, key, secret):
    return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}))


def error_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


def check(step, cond, got=None):
    if not cond:
        sys.stderr.write("step '%s' failed: %r\n" % (step, got))
        sys.exit(1)


def main(endpoint, key, secret, echo_so, error_so):
    lam = client(endpoint, key, secret)
    cfg = lam.create_function(FunctionName="boto-echo", Runtime="provided.al2",
                              Role="arn:aws:iam::123456789012:role/x", Handler="echo.handler",
                              Code={"ZipFile": zipped(echo_so, "echo.so")}, Timeout=5,
                              MemorySize=256, Environment={"Variables": {"KEY": "v"}})
    check("create", cfg["FunctionName"] == "boto-echo" and cfg["Timeout"] == 5
          and cfg["MemorySize"] == 256 and cfg["State"] == "Active", cfg)
    check("create status", cfg["ResponseMetadata"]["HTTPStatusCode"] == 201, cfg)

    r = lam.invoke(FunctionName="boto-echo", Payload=b'{"hello":"boto"}', LogType="Tail")
    body = r["Payload"].read()
    check("invoke payload", json.loads(body) == {"hello": "boto"}, body)
    check("invoke status", r["StatusCode"] == 200 and r["ExecutedVersion"] == "$LATEST", r)
    check("invoke log", "START RequestId" in base64.b64decode(r["LogResult"]).decode(), r)
    check("invoke no error", "FunctionError" not in r, r)

    r = lam.invoke(FunctionName="boto-echo", InvocationType="Event", Payload=b"{}")
    check("event 202", r["StatusCode"] == 202, r)
    r = lam.invoke(FunctionName="boto-echo", InvocationType="DryRun", Payload=b"{}")
    check("dry run 204", r["StatusCode"] == 204, r)

    pub = lam.create_function(FunctionName="boto-error", Runtime="provided.al2",
                              Role="arn:aws:iam::123456789012:role/x", Handler="error.so",
                              Code={"ZipFile": zipped(error_so, "error.so")}, Publish=True)
    check("create with Publish", pub["Version"] == "1"
          and pub["FunctionArn"].endswith(":boto-error:1")
          and pub["ResponseMetadata"]["HTTPStatusCode"] == 201, pub)
    vers = [x["Version"] for x in lam.list_versions_by_function(FunctionName="boto-error")["Versions"]]
    check("Publish made version 1", vers == ["$LATEST", "1"], vers)
    r = lam.invoke(FunctionName="boto-error", Payload=b"{}")
    err = json.loads(r["Payload"].read())
    check("function error", r.get("FunctionError") == "Handled"
          and err["errorType"] == "OrderRejected", (r, err))

    v = lam.publish_version(FunctionName="boto-echo", Description="first")
    check("publish", v["Version"] == "1" and v["ResponseMetadata"]["HTTPStatusCode"] == 201, v)
    a = lam.create_alias(FunctionName="boto-echo", Name="live", FunctionVersion="1")
    check("alias", a["Name"] == "live" and a["FunctionVersion"] == "1", a)
    r = lam.invoke(FunctionName="boto-echo", Qualifier="live", Payload=b'{"v":1}')
    check("invoke alias", r["ExecutedVersion"] == "1", r)
    names = [x["Name"] for x in lam.list_aliases(FunctionName="boto-echo")["Aliases"]]
    check("list aliases", names == ["live"], names)
    vers = [x["Version"] for x in lam.list_versions_by_function(FunctionName="boto-echo")["Versions"]]
    check("list versions", vers == ["$LATEST", "1"], vers)

    # concurrency controls: reserved 0 throttles with Lambda's Reason
    c = lam.put_function_concurrency(FunctionName="boto-error", ReservedConcurrentExecutions=0)
    check("put concurrency", c["ReservedConcurrentExecutions"] == 0, c)
    got = lam.get_function_concurrency(FunctionName="boto-error")
    check("get concurrency", got["ReservedConcurrentExecutions"] == 0, got)
    try:
        lam.invoke(FunctionName="boto-error", Payload=b"{}")
        check("throttled", False, "invoke ran")
    except botocore.exceptions.ClientError as e:
        check("throttled", e.response["Error"]["Code"] == "TooManyRequestsException"
              and e.response["ResponseMetadata"]["HTTPStatusCode"] == 429
              and e.response.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded",
              e.response)
    lam.delete_function_concurrency(FunctionName="boto-error")
    got = lam.get_function_concurrency(FunctionName="boto-error")
    check("concurrency deleted", "ReservedConcurrentExecutions" not in got, got)
    pc = lam.put_provisioned_concurrency_config(FunctionName="boto-echo", Qualifier="live",
                                                ProvisionedConcurrentExecutions=1)
    check("put provisioned", pc["RequestedProvisionedConcurrentExecutions"] == 1
          and pc["Status"] in ("IN_PROGRESS", "READY")
          and pc["ResponseMetadata"]["HTTPStatusCode"] == 202, pc)
    got = lam.get_provisioned_concurrency_config(FunctionName="boto-echo", Qualifier="live")
    check("get provisioned", got["RequestedProvisionedConcurrentExecutions"] == 1, got)
    ls = lam.list_provisioned_concurrency_configs(FunctionName="boto-echo")
    check("list provisioned", [x["FunctionArn"].endswith(":live")
                               for x in ls["ProvisionedConcurrencyConfigs"]] == [True], ls)
    check("provisioned $LATEST", error_code(lambda: lam.put_provisioned_concurrency_config(
        FunctionName="boto-echo", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1))
        == ("InvalidParameterValueException", 400))
    lam.delete_provisioned_concurrency_config(FunctionName="boto-echo", Qualifier="live")
    check("provisioned deleted", error_code(lambda: lam.get_provisioned_concurrency_config(
        FunctionName="boto-echo", Qualifier="live"))
        == ("ProvisionedConcurrencyConfigNotFoundException", 404))

    ec = lam.put_function_event_invoke_config(
        FunctionName="boto-echo", MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": "boto-error"}})
    check("event config", ec["MaximumRetryAttempts"] == 0
          and ec["DestinationConfig"]["OnFailure"]["Destination"] == "boto-error", ec)
    got = lam.get_function_event_invoke_config(FunctionName="boto-echo")
    check("event config get", got["MaximumRetryAttempts"] == 0, got)

    u = lam.create_function_url_config(FunctionName="boto-echo", AuthType="NONE")
    check("url", "/url/" in u["FunctionUrl"] and u["AuthType"] == "NONE", u)

    c = lam.update_function_configuration(FunctionName="boto-echo", Timeout=9)
    check("update config", c["Timeout"] == 9, c)
    got = lam.get_function_configuration(FunctionName="boto-echo")
    check("get config", got["Timeout"] == 9 and got["Environment"]["Variables"] == {"KEY": "v"}, got)
    c = lam.update_function_code(FunctionName="boto-echo", ZipFile=zipped(error_so, "error.so"))
    check("update code", c["CodeSha256"] != cfg["CodeSha256"], c)

    check("not found", error_code(lambda: lam.get_function(FunctionName="nope"))
          == ("ResourceNotFoundException", 404))
    check("conflict", error_code(lambda: lam.create_function(
        FunctionName="boto-echo", Role="r", Runtime="provided.al2", Handler="echo.so",
        Code={"ZipFile": zipped(echo_so, "echo.so")}))[1] == 409)
    check("bad zip", error_code(lambda: lam.create_function(
        FunctionName="boto-bad", Role="r", Runtime="provided.al2", Handler="x.so",
        Code={"ZipFile": b"not a zip"}))[0] == "InvalidParameterValueException")
    check("bad timeout", error_code(lambda: lam.update_function_configuration(
        FunctionName="boto-echo", Timeout=901))[0] == "InvalidParameterValueException")

    wrong = client(endpoint, key, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    check("wrong secret", error_code(lambda: wrong.list_functions())
          == ("InvalidSignatureException", 403))
    stranger = client(endpoint, "LMAKAAAAAAAAAAAAAAAA", secret)
    check("unknown key", error_code(lambda: stranger.list_functions())
          == ("UnrecognizedClientException", 403))

    m = lam.create_event_source_mapping(
        FunctionName="boto-error", EventSourceArn="arn:aws:sqs:us-east-1:000000000000:boto-q",
        BatchSize=5, Enabled=False)
    check("esm create", m["BatchSize"] == 5 and m["ResponseMetadata"]["HTTPStatusCode"] == 202
          and m["State"] in ("Disabled", "Disabling", "Creating"), m)
    got = lam.get_event_source_mapping(UUID=m["UUID"])
    check("esm get", got["UUID"] == m["UUID"] and got["BatchSize"] == 5, got)
    ms = lam.list_event_source_mappings(FunctionName="boto-error")["EventSourceMappings"]
    check("esm list", [x["UUID"] for x in ms] == [m["UUID"]], ms)
    ms = lam.list_event_source_mappings(FunctionName="boto-echo")["EventSourceMappings"]
    check("esm list filtered", ms == [], ms)
    up = lam.update_event_source_mapping(UUID=m["UUID"], BatchSize=7)
    check("esm update", up["BatchSize"] == 7, up)
    lam.delete_event_source_mapping(UUID=m["UUID"])
    check("esm deleted", error_code(lambda: lam.get_event_source_mapping(UUID=m["UUID"]))[1]
          == 404)

    lam.delete_function(FunctionName="boto-echo")
    check("deleted", error_code(lambda: lam.get_function(FunctionName="boto-echo"))[1] == 404)
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    check("list", names == ["boto-error"], names)
    print("ALL OK")


if __name__ == "__main__":
    main(*sys.argv[1:6])
