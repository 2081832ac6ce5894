#!/usr/bin/env python3
"""Write a man page from a Lamina program's own --help (run at build time).

gen_man.py OUT NAME SECTION SUMMARY PROGRAM [--commands]

The page's SYNOPSIS is the help's first line and DESCRIPTION the rest,
kept as written (preformatted).  With --commands (the CLI), each command
listed under "commands:" gets a subsection from `PROGRAM COMMAND --help`,
so the pages never drift from the binaries.
"""
import os
import subprocess
import sys


def run_help(argv):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", LSAN_OPTIONS="detect_leaks=0")
    p = subprocess.run(argv + ["--help"], capture_output=True, text=True, env=env, timeout=30)
    if p.returncode != 0:
        sys.exit("%s --help: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr))
    return p.stdout + p.stderr


def roff(text):
    out = []
    for line in text.rstrip("\n").split("\n"):
        line = line.replace("\\", "\\e").replace("-", "\\-")
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def commands(text):
    names, inside = [], False
    for line in text.split("\n"):
        if line.strip() == "commands:":
            inside = True
        elif inside and line.startswith("  ") and line.strip():
            names.append(line.split()[0])
        elif inside and line.strip() == "":
            break
    return names


def main():
    out, name, section, summary, program = sys.argv[1:6]
    with_commands = "--commands" in sys.argv[6:]
    text = run_help([program])
    first, _, rest = text.partition("\n")
    page = [
        '.TH "%s" "%s" "" "Lamina" "Lamina manual"' % (name.upper(), section),
        ".SH NAME",
        "%s \\- %s" % (name, summary),
        ".SH SYNOPSIS",
        ".nf",
        roff(first.replace("usage: ", "")),
        ".fi",
        ".SH DESCRIPTION",
        ".nf",
        roff(rest.strip("\n")),
        ".fi",
    ]
    if with_commands:
        page.append(".SH COMMANDS")
        for cmd in commands(text):
            sub = run_help([program, cmd])
            page += [".SS %s" % cmd, ".nf", roff(sub.strip("\n")), ".fi"]
    page += [".SH SEE ALSO", "lamina(1), lamina\\-broker(8), lamina\\-bench(1)"]
    with open(out, "w") as f:
        f.write("\n".join(page) + "\n")


if __name__ == "__main__":
    main()
