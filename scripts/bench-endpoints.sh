#!/usr/bin/env bash
# The endpoint part of `make bench`: a 2-container pipeline of the test image, CreateEndpoint → InService,
# then InvokeEndpoint through smemu beside the same two containers called directly in sequence.
# Expects SMEMU_BENCH_ADDR (a running release smemu) and Docker with smemu-testmodel:latest.
set -euo pipefail
cd "$(dirname "$0")/.."
addr="${SMEMU_BENCH_ADDR:?set by scripts/bench.sh}"
seconds="${BENCH_SECONDS:-5}"
endpoint="bench-$(date +%s)"
echo "== endpoints (targets: added p50 < 0.3 ms, throughput >= 85 % of direct, InService within 1.5 s)"
target/release/smemu-bench --target "$addr" --scenario deploy --endpoint "$endpoint"
# The pipeline's loopback ports, in container order: the first container publishes both (shared namespace).
owner=$(docker ps -q --filter "label=smemu.resource=000000000000/us-east-1/$endpoint" --filter "label=smemu.container-index=0")
ports="$(docker port "$owner" 8080/tcp | head -1),$(docker port "$owner" 8081/tcp | head -1)"
for c in 1 16; do
  target/release/smemu-bench --target "$addr" --scenario invoke --endpoint "$endpoint" --concurrency "$c" --seconds "$seconds"
  target/release/smemu-bench --target "$addr" --scenario direct --direct "$ports" --concurrency "$c" --seconds "$seconds"
done
