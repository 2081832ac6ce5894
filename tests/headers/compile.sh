#!/bin/sh
# tests/headers/compile.sh — one test of the `headers` suite.
#
#   compile.sh SOURCE COMPILER [ARGS...]
#       compile SOURCE (a generated header_<name>.c) to a throw-away object
#       with the configured compiler and flags; the test fails with the
#       compiler's status and its diagnostics on stderr.
#   compile.sh --listed DIR HEADER...
#       fail if DIR holds a .h that is not in the HEADER list (a new public
#       header must join the suite in sdk/meson.build).
#
# Compiling at test time (not at build time) makes a broken header a failed
# test in `meson test --suite headers`, not a broken build.
set -u
if [ "$1" = "--listed" ]; then
    dir=$2
    shift 2
    rc=0
    for h in "$dir"/*.h; do
        name=${h##*/}
        found=no
        for l in "$@"; do
            [ "$l" = "$name" ] && found=yes
        done
        if [ $found = no ]; then
            echo "headers: $h is not in lamina_public_headers (sdk/meson.build)" >&2
            rc=1
        fi
    done
    exit $rc
fi
src=$1
shift
tmp=$(mktemp -d) || exit 1
"$@" -c "$src" -o "$tmp/header.o"
rc=$?
rm -rf "$tmp"
[ $rc -eq 0 ] && echo "ok: $*  $src"
exit $rc
