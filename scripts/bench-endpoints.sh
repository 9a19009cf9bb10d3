#!/usr/bin/env bash
# The endpoint part of `make bench`: a 2-container pipeline of the test image, CreateEndpoint → InService,
# then InvokeEndpoint through smemu beside the same two containers called directly in sequence, and beside
# the relay floor (the cheapest possible relay: what one extra hop costs on this machine, whatever the relay),
# with the CPU smemu and the floor spend per call (from /proc, so steadier than requests/s on a busy machine).
# The three alternate in rounds (BENCH_ROUNDS, default 9, of BENCH_SECONDS each, default 2), and the summary
# lines give medians, so that drift on a busy machine does not favour one of them.
# Expects SMEMU_BENCH_ADDR and SMEMU_BENCH_PID (a running release smemu) and Docker with smemu-testmodel:latest.
set -euo pipefail
cd "$(dirname "$0")/.."
addr="${SMEMU_BENCH_ADDR:?set by scripts/bench.sh}"
pid="${SMEMU_BENCH_PID:?set by scripts/bench.sh}"
seconds="${BENCH_SECONDS:-2}"
rounds="${BENCH_ROUNDS:-9}"
endpoint="bench-$(date +%s)"
echo "== endpoints (targets: added p50 < 0.3 ms, throughput >= 85 % of direct, InService within 1.5 s)"
target/release/smemu-bench --target "$addr" --scenario deploy --endpoint "$endpoint"
# The pipeline's loopback ports, in container order: the first container publishes both (shared namespace).
owner=$(docker ps -q --filter "label=smemu.resource=000000000000/us-east-1/$endpoint" --filter "label=smemu.container-index=0")
ports="$(docker port "$owner" 8080/tcp | head -1),$(docker port "$owner" 8081/tcp | head -1)"
floor_log=$(mktemp)
target/release/smemu-bench --target "$addr" --scenario relay-floor --direct "$ports" > "$floor_log" &
floor_pid=$!
trap 'kill "$floor_pid" 2>/dev/null; wait "$floor_pid" 2>/dev/null || true; rm -f "$floor_log"' EXIT
for _ in $(seq 100); do grep -q listening "$floor_log" && break; sleep 0.1; done
floor=$(sed -n 's#^relay-floor listening on \(.*\)#\1#p' "$floor_log")
[ -n "$floor" ] || { echo "the relay floor did not start"; exit 1; }
for c in 1 16; do
  target/release/smemu-bench --target "$addr" --scenario compare --endpoint "$endpoint" --direct "$ports" \
    --floor "$floor" --smemu-pid "$pid" --floor-pid "$floor_pid" --concurrency "$c" --seconds "$seconds" --rounds "$rounds"
done
