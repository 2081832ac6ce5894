#!/usr/bin/env python3
"""The broker's layer rule (broker/README.md), checked on the source.

Each folder of broker/ has a rank; a file may include a broker header only
from its own folder or from a folder of lower rank.  Folders of the same
rank are siblings and do not include each other.  main.c, the composition
root, may include anything.  Nothing but front/ may name the api socket's
types or replies (api_ctx, api_reply, reppool contexts of the api).

Usage: check_layers.py BROKER_DIR [--self-test]
Exits 1 and lists every violation.  --self-test runs the checker on
broken copies (a core file including front/, an admin file including
async/, api_ctx in core/) and fails unless each is caught.
"""
import os
import re
import shutil
import sys
import tempfile

RANK = {"lib": 0, "core": 1, "messaging": 1, "store": 2, "admin": 3, "async": 3, "esm": 3, "front": 4}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
FRONT_ONLY = re.compile(r"\b(api_ctx|api_reply\w*|api_done)\b")


def check(root):
    problems = []
    for folder in sorted(os.listdir(root)):
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            continue
        if folder not in RANK:
            problems.append(f"{folder}/: a folder with no rank (add it to RANK and the README)")
            continue
        for dirpath, _, files in os.walk(path):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                f = os.path.join(dirpath, name)
                rel = os.path.relpath(f, root)
                text = open(f, encoding="utf-8").read()
                for inc in INCLUDE.findall(text):
                    if "/" not in inc:
                        continue  # same folder, or proto/sdk headers
                    dest = inc.split("/")[0]
                    if dest not in RANK:
                        continue
                    if dest != folder and RANK[dest] >= RANK[folder]:
                        problems.append(f"{rel}: includes {inc} ({dest}/ is not below {folder}/)")
                if folder != "front":
                    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
                    for m in sorted(set(FRONT_ONLY.findall(code))):
                        problems.append(f"{rel}: names {m}, which belongs to front/")
    return problems


def self_test(root):
    cases = [
        ("core/zz_bad.c", '#include "front/front.h"\n'),
        ("admin/zz_bad.c", '#include "async/async.h"\n'),
        ("core/zz_bad2.c", "void f(api_ctx *c);\n"),
        ("store/zz_bad.c", '#include "admin/admin.h"\n'),
    ]
    ok = True
    if check(root):
        print("self-test: the tree itself has violations", file=sys.stderr)
        return False
    for rel, body in cases:
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "broker")
            shutil.copytree(root, copy)
            with open(os.path.join(copy, rel), "w") as fh:
                fh.write(body)
            found = [p for p in check(copy) if p.startswith(rel)]
            if not found:
                print(f"self-test: {rel} with {body.strip()!r} was not caught", file=sys.stderr)
                ok = False
    return ok


def main():
    root = sys.argv[1]
    if "--self-test" in sys.argv[2:]:
        sys.exit(0 if self_test(root) else 1)
    problems = check(root)
    for p in problems:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
