#!/usr/bin/env bash
# The control-plane write part of `make bench` (issue 16): every connection alternates CreateModel (a 2-container
# pipeline) and DeleteModel of one name of its own, each call timed, at concurrency 1 and 16, beside DescribeModel
# at concurrency 16, in BENCH_ROUNDS interleaved rounds (default 5) of BENCH_SECONDS each (default 2). Each summary
# line gives the median and the range over the rounds of calls/s, p99 and p999.
# Expects SMEMU_BENCH_ADDR (a running release smemu).
set -euo pipefail
cd "$(dirname "$0")/.."
addr="${SMEMU_BENCH_ADDR:?set by scripts/bench.sh}"
echo "== control-plane writes (targets: CreateDeleteModel c=16 >= 5000 calls/s with p99 < 10 ms; DescribeModel c=16 not lower than before)"
target/release/smemu-bench --target "$addr" --scenario writes --seconds "${BENCH_SECONDS:-2}" --rounds "${BENCH_ROUNDS:-5}"
