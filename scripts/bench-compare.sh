#!/usr/bin/env bash
# Compares two release builds of smemu on the whole of `make bench` (scripts/bench.sh: control plane, endpoints,
# batch transform), interleaved: before, after, before, after, ... (BENCH_COMPARE_ROUNDS rounds, default 2), each
# a fresh smemu with its own data directory, so that drift on a busy machine favours neither. Keeps every run's
# output, then prints, per build and figure, the range (min-max over the rounds) of the rate, and of the p99
# where the figure has one. BENCH_SECONDS, BENCH_ROUNDS... pass on to the bench scripts. The load generator is
# this tree's target/release/smemu-bench.
# Usage: scripts/bench-compare.sh BEFORE_SMEMU_BIN AFTER_SMEMU_BIN
set -euo pipefail
cd "$(dirname "$0")/.."
before="${1:?usage: scripts/bench-compare.sh BEFORE_SMEMU_BIN AFTER_SMEMU_BIN}"
after="${2:?usage: scripts/bench-compare.sh BEFORE_SMEMU_BIN AFTER_SMEMU_BIN}"
rounds="${BENCH_COMPARE_ROUNDS:-2}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq "$rounds"); do
  for label in before after; do
    bin=$before; [ "$label" = after ] && bin=$after
    echo "== round $round: $label ($bin)"
    SMEMU_BIN="$bin" scripts/bench.sh | tee "$out/$label-$round"
  done
done
# A figure is a line's label and concurrency (`DescribeModel c=16`, `Invoke c=1`, `transform 2 instances`...):
# the text before its first number with a unit after it.
echo "== ranges over $rounds rounds, interleaved (rate: ops/s or records/s as the line says; p99 in ms)"
for label in before after; do
  cat "$out/$label"-* | awk -v label="$label" '
    # Each round of the endpoint bench is summarised by its median line; the rounds themselves are left out.
    /^ +[0-9]+:/ { next }
    /ops\/s|records\/s/ {
      key = ""; rate = ""; p99 = ""
      for (i = 1; i <= NF; i++) {
        if (($i == "ops/s" || $i == "records/s") && rate == "") rate = $(i - 1)
        if ($i == "p99" && p99 == "") p99 = $(i + 1)
      }
      for (i = 1; i <= NF; i++) { if ($(i + 1) == "ops/s" || $(i + 1) == "records/s" || $i == "median") break; key = key (key ? " " : "") $i }
      if (rate == "" || key == "") next
      if (!(key in n)) order[++keys] = key
      n[key]++
      if (n[key] == 1 || rate + 0 < rmin[key]) rmin[key] = rate + 0
      if (n[key] == 1 || rate + 0 > rmax[key]) rmax[key] = rate + 0
      if (p99 != "") {
        if (!(key in pmin) || p99 + 0 < pmin[key]) pmin[key] = p99 + 0
        if (!(key in pmax) || p99 + 0 > pmax[key]) pmax[key] = p99 + 0
      }
    }
    END {
      for (k = 1; k <= keys; k++) {
        key = order[k]
        line = sprintf("%-6s %-46s %9.0f-%-9.0f", label, key, rmin[key], rmax[key])
        if (key in pmin) line = line sprintf("  p99 %.3f-%.3f ms", pmin[key], pmax[key])
        print line
      }
    }'
done
