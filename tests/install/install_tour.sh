#!/usr/bin/env bash
# tests/install/install_tour.sh BUILD_DIR SOURCE_DIR — see meson.build here.
# Fails (exit 1, saying which step) when anything the install promises is
# missing or does not work from the installed paths alone.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
ROOT=$(mktemp -d /tmp/lamina-install-XXXXXX)
chmod 755 "$ROOT" # the sandboxed runtime (its own uid) must reach libexec and lib
BROKER_PID=
cleanup() {
    if [[ -n $BROKER_PID ]]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [[ -z ${LAMINA_TEST_KEEP:-} ]]; then rm -rf "$ROOT"; else echo "kept $ROOT"; fi
}
trap cleanup EXIT
fail() { echo "install: $*" >&2; exit 1; }
step() { echo "== $*"; }

step "meson install --destdir $ROOT"
meson install -C "$BUILD" --destdir "$ROOT" --no-rebuild --quiet >/dev/null
read -r PREFIX LIBDIR < <(meson introspect "$BUILD" --buildoptions | /usr/bin/python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["prefix"], o["libdir"])')
P=$ROOT$PREFIX
[[ $LIBDIR == /* ]] && LIB=$ROOT$LIBDIR || LIB=$P/$LIBDIR

step "the files"
for f in bin/lamina bin/lamina-broker bin/lamina-bench libexec/lamina/lamina-runtime \
    include/lamina/handler.h include/lamina/client.h include/lamina/error.h \
    share/man/man1/lamina.1 share/man/man1/lamina-bench.1 share/man/man8/lamina-broker.8 \
    share/bash-completion/completions/lamina lib/systemd/system/lamina-broker.service; do
    [[ -e $P/$f ]] || fail "$PREFIX/$f is not installed"
done
[[ -x $P/libexec/lamina/lamina-runtime ]] || fail "lamina-runtime is not executable"
[[ ! -e $P/bin/lamina-runtime ]] || fail "lamina-runtime belongs in libexec, not bin"
readelf -d "$LIB/liblamina.so" | grep -q 'SONAME.*\[liblamina\.so\.0\]' ||
    fail "liblamina.so has no soname liblamina.so.0"
[[ -e $LIB/liblamina.so.0 ]] || fail "no liblamina.so.0 link"
grep -q "^ExecStart=$PREFIX/bin/lamina-broker --state /var/lib/lamina\$" \
    "$P/lib/systemd/system/lamina-broker.service" || fail "the unit does not start $PREFIX/bin/lamina-broker"
grep -q '^StateDirectory=lamina$' "$P/lib/systemd/system/lamina-broker.service" ||
    fail "the unit keeps no state in /var/lib/lamina"

export LD_LIBRARY_PATH=$LIB # the prefix is not in ld.so's cache: it is a destdir
unset LAMINA_RUNTIME LAMINA_STATE # the broker must find its runtime by itself

step "man pages from the programs' help"
ncmds=$("$P/bin/lamina" --help | sed -n '/^commands:/,/^$/{/^  [a-z]/p}' | wc -l)
nsec=$(grep -c '^\.SS ' "$P/share/man/man1/lamina.1")
((ncmds > 10 && nsec == ncmds)) || fail "lamina.1 has $nsec command sections for $ncmds commands"
for m in man1/lamina.1 man1/lamina-bench.1 man8/lamina-broker.8; do
    head -1 "$P/share/man/$m" | grep -q '^\.TH ' || fail "$m is not a man page"
done
if command -v man >/dev/null; then
    man -l "$P/share/man/man1/lamina.1" 2>/dev/null | grep -q 'queue create' ||
        fail "man -l lamina.1 does not show the queue command"
fi

step "bash completion"
complete_words() { # complete_words WORD... : the completions of the last word
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _lamina; echo "${COMPREPLY[*]}"' \
        _ "$P/share/bash-completion/completions/lamina" "$P/bin/lamina" "$@"
}
[[ " $(complete_words qu) " == *" queue "* ]] || fail "'lamina qu<TAB>' does not offer queue"
[[ " $(complete_words queue cr) " == *" create "* ]] || fail "'lamina queue cr<TAB>' does not offer create"
[[ " $(complete_words create x --ti) " == *" --timeout "* ]] || fail "'lamina create x --ti<TAB>' does not offer --timeout"

step "a handler built against the installed SDK (pkg-config lamina)"
W=$ROOT/work
mkdir -p "$W/pkgconfig"
# the .pc names the final prefix; point a copy at the destdir
sed "s|^prefix=.*|prefix=$P|" "$LIB/pkgconfig/lamina.pc" >"$W/pkgconfig/lamina.pc"
export PKG_CONFIG_PATH=$W/pkgconfig
pkg-config --cflags lamina | grep -q -- "-I$P/include" || fail "pkg-config lamina gives no include dir"
pkg-config --cflags --libs lamina | grep -q -- '-lcjson' || fail "pkg-config lamina does not bring cJSON"
cp "$SRC/sdk/examples/hello/hello.c" "$W/"
cat >"$W/shout.c" <<'C'
#include <cJSON.h>
#include <lamina/handler.h>
/* a handler using cJSON through pkg-config lamina alone */
static int shout(const lm_request *req, lm_response *res)
{
    size_t n = 0;
    const char *event = lm_request_payload(req, &n);
    cJSON *j = cJSON_ParseWithLength(event, n);
    int rc = lm_response_printf(res, "{\"keys\":%d}", cJSON_GetArraySize(j));
    cJSON_Delete(j);
    return rc;
}
LM_HANDLER(shout);
C
for h in hello shout; do
    # shellcheck disable=SC2046
    cc -shared -fPIC -o "$W/$h.so" "$W/$h.c" $(pkg-config --cflags --libs lamina) ||
        fail "$h.c does not build against the installed SDK"
done

step "the tour against the installed broker"
S=$W/state
"$P/bin/lamina-broker" --state "$S" >"$W/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 100); do
    [[ -S $S/api.sock ]] && break
    kill -0 "$BROKER_PID" 2>/dev/null || fail "the broker exited: $(tail -5 "$W/broker.log")"
    sleep 0.1
done
L=("$P/bin/lamina" --state "$S")
"${L[@]}" create hello --handler "$W/hello.so" >/dev/null || fail "create hello"
"${L[@]}" create shout --handler "$W/shout.so" >/dev/null || fail "create shout"
out=$("${L[@]}" invoke hello '{"name":"installed"}') || fail "invoke hello: $out $(tail -5 "$W/broker.log")"
[[ $out == *'"greeting":"Hello, installed!"'* ]] || fail "invoke hello said: $out"
out=$("${L[@]}" invoke shout '{"a":1,"b":2}') || fail "invoke shout: $out"
[[ $out == *'"keys":2'* ]] || fail "invoke shout said: $out"
out=$("${L[@]}" -o json invoke hello '{"name":"later"}' --async) || fail "invoke --async: $out"
rid=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["RequestId"])' "$out") ||
    fail "invoke --async printed no RequestId: $out"
out=$("${L[@]}" -o json event-wait "$rid" --timeout 30) || fail "event-wait $rid: $out"
/usr/bin/python3 -c '
import json, sys
r = json.loads(sys.argv[1])
sys.exit(0 if r.get("Status") == "Done" and r.get("Condition") == "Success" else 1)' "$out" ||
    fail "the async event did not run to success: $out"
echo "install: all good"
