#!/usr/bin/env bash
# Compares two release builds of smemu on the invocation part of `make bench` (scripts/bench-endpoints.sh),
# interleaved: before, after, before, after, ... (BENCH_COMPARE_ROUNDS rounds, default 2), each a fresh smemu
# with its own data directory, so that drift on a busy machine does not favour one of them. Prints each run's
# summary lines, then per build and concurrency the range (min-max over the rounds) of the median invocation
# rate, the CPU per call and the share of direct. BENCH_ROUNDS (default 3) and BENCH_SECONDS (default 2) are
# passed on to bench-endpoints.sh. The load generator is this tree's target/release/smemu-bench.
# Usage: scripts/bench-compare.sh BEFORE_SMEMU_BIN AFTER_SMEMU_BIN
set -euo pipefail
cd "$(dirname "$0")/.."
before="${1:?usage: scripts/bench-compare.sh BEFORE_SMEMU_BIN AFTER_SMEMU_BIN}"
after="${2:?usage: scripts/bench-compare.sh BEFORE_SMEMU_BIN AFTER_SMEMU_BIN}"
rounds="${BENCH_COMPARE_ROUNDS:-2}"
export BENCH_ROUNDS="${BENCH_ROUNDS:-3}" BENCH_SECONDS="${BENCH_SECONDS:-2}"
[ -x target/release/smemu-bench ] || cargo build --release -q -p smemu-bench
scripts/ensure-docker.sh >/dev/null && scripts/build-test-image.sh >/dev/null
results=$(mktemp)
work=""
pid=""
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""; fi
  if [ -n "$work" ]; then
    # The run's containers, by the owner id smemu labelled them with.
    if [ -f "$work/data/owner-id" ]; then
      docker ps -aq --filter "label=smemu.owner=$(cat "$work/data/owner-id")" | xargs -r docker rm -f >/dev/null
    fi
    rm -rf "$work"; work=""
  fi
}
trap 'stop; rm -f "$results"' EXIT
for round in $(seq "$rounds"); do
  for label in before after; do
    bin=$before; [ "$label" = after ] && bin=$after
    work=$(mktemp -d)
    "$bin" serve --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 --data-dir "$work/data" --log-level warn \
      > "$work/ready" 2> "$work/smemu.log" &
    pid=$!
    for _ in $(seq 100); do grep -qs listening "$work/ready" && break; sleep 0.1; done
    addr=$(sed -n 's#^smemu listening on http://\([^ ]*\) .*#\1#p' "$work/ready")
    [ -n "$addr" ] || { echo "$label: smemu did not start"; cat "$work/smemu.log"; exit 1; }
    echo "== round $round: $label ($bin)"
    SMEMU_BENCH_ADDR="$addr" SMEMU_BENCH_PID="$pid" scripts/bench-endpoints.sh | tee "$work/out" |
      grep -E '^(Invoke|Relay floor|Direct) '
    grep -E '^Invoke ' "$work/out" | sed "s#^#$label #" >> "$results"
    stop
  done
done
echo "== ranges over $rounds rounds (median ops/s of each run; us CPU per call; % of direct)"
for label in before after; do
  for c in 1 16; do
    grep -E "^$label Invoke +c=$c " "$results" | awk -v label="$label" -v c="$c" '
      { for (i = 1; i <= NF; i++) {
          if ($i == "ops/s") rate = $(i - 1)
          if ($i == "%" && $(i + 1) == "of") share = $(i - 1)
          if ($i == "us" && $(i + 1) == "CPU") cpu = $(i - 1)
        }
        rmin = (NR == 1 || rate < rmin) ? rate : rmin; rmax = (NR == 1 || rate > rmax) ? rate : rmax
        cmin = (NR == 1 || cpu < cmin) ? cpu : cmin; cmax = (NR == 1 || cpu > cmax) ? cpu : cmax
        smin = (NR == 1 || share < smin) ? share : smin; smax = (NR == 1 || share > smax) ? share : smax }
      END { if (NR) printf "%-6s c=%-3s %6.0f-%-6.0f ops/s  %4.0f-%-4.0f us CPU per call  %3.0f-%-3.0f %% of direct\n",
                           label, c, rmin, rmax, cmin, cmax, smin, smax }'
  done
done
