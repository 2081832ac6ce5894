#!/bin/sh
# tools/bench/standard.sh — run lamina-bench's standard set against a broker
# of its own: start lamina-broker on a fresh temporary state dir, wait for
# its api socket, run `lamina-bench standard` (which creates the function
# bench-echo (and bench-chain → bench-sink for the end-to-end async run)
# from tests/handlers/echo.so, alternates Lamina and raw-nng baseline
# rounds, and runs the queue runs on the queues bench-queue and
# bench-queue-latency, which it creates), stop the broker, remove the
# state dir.  The broker serves HTTP on a free port (the url runs).
#
#   tools/bench/standard.sh BUILD_ROOT [OUT.json]      (default BUILD_ROOT/bench-results.json)
#
# `meson test --benchmark` runs this.  About 60 s on 2 vCPUs.
set -eu

build=$(cd "${1:?usage: standard.sh BUILD_ROOT [OUT.json]}" && pwd)
out=${2:-$build/bench-results.json}
state=$(mktemp -d /tmp/lamina-bench-std.XXXXXX)
log="$state.broker.log"
export LAMINA_RUNTIME="${LAMINA_RUNTIME:-$build/runtime/lamina-runtime}"

"$build/broker/lamina-broker" --state "$state" --http 127.0.0.1:0 2>"$log" &
broker=$!
cleanup() {
    kill "$broker" 2>/dev/null || true
    wait "$broker" 2>/dev/null || true
    rm -rf "$state" "$log"
}
trap cleanup EXIT INT TERM

# Wait for the api socket (up to 10 s), or for the broker to die.
tries=0
while [ ! -S "$state/api.sock" ]; do
    if ! kill -0 "$broker" 2>/dev/null || [ "$tries" -ge 1000 ]; then
        echo "standard.sh: the broker did not start; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
    tries=$((tries + 1))
    sleep 0.01
done

"$build/tools/lamina-bench" --state "$state" standard \
    --handlers "$build/tests/handlers" --json "$out"
echo "standard.sh: results in $out" >&2
