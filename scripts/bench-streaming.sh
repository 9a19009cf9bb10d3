#!/usr/bin/env bash
# The streaming part of `make bench`: InvokeEndpointWithResponseStream through a 2-container pipeline whose
# last container streams (the test image's `stream` role: echo, then the body back in 64 chunks), beside the
# same two containers called directly (the first's whole answer to the second, whose chunked answer is read
# as it arrives). Per round (BENCH_ROUNDS, default 5, of 2 x BENCH_SECONDS, default 2), smemu then direct:
# the time to the first part (p50 of small requests) and the payload bytes/s of 1 MiB streamed answers.
# Expects SMEMU_BENCH_ADDR (a running release smemu) and Docker with smemu-testmodel:latest.
set -euo pipefail
cd "$(dirname "$0")/.."
addr="${SMEMU_BENCH_ADDR:?set by scripts/bench.sh}"
seconds="${BENCH_SECONDS:-2}"
rounds="${BENCH_ROUNDS:-5}"
endpoint="bench-stream-$(date +%s)"
echo "== streaming (targets: first part < 1 ms added, streamed bytes/s >= 90 % of direct)"
target/release/smemu-bench --target "$addr" --scenario deploy --endpoint "$endpoint" \
  --role echo --last-role stream --last-env SMEMU_TEST_CHUNKS=64
# The pipeline's loopback ports, in container order: the first container publishes both (shared namespace).
owner=$(docker ps -q --filter "label=smemu.resource=000000000000/us-east-1/$endpoint" --filter "label=smemu.container-index=0")
ports="$(docker port "$owner" 8080/tcp | head -1),$(docker port "$owner" 8081/tcp | head -1)"
target/release/smemu-bench --target "$addr" --scenario stream --endpoint "$endpoint" --direct "$ports" \
  --seconds "$seconds" --rounds "$rounds"
