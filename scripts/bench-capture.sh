#!/usr/bin/env bash
# The data-capture part of `make bench`: InvokeEndpoint throughput through a 2-container pipeline of the
# test image with DataCaptureConfig at 100 % (input and output, written to smemu's embedded S3) beside the
# same pipeline without capture (target: within 5 %). The two endpoints alternate in rounds (BENCH_ROUNDS,
# default 9, of BENCH_SECONDS each, default 2) at c=1 and c=16; the summary gives each one's median and
# range, the ratio of medians, and the median and range of each round's ratio to the round before it.
# Expects SMEMU_BENCH_ADDR and SMEMU_BENCH_S3 (a running release smemu) and Docker with
# smemu-testmodel:latest.
#
# BENCH_CAPTURE_CONTROL=1 deploys the "on" endpoint without capture too: the same rounds then compare
# two identical endpoints, and the ratios they give are the noise the real comparison is read against.
set -euo pipefail
cd "$(dirname "$0")/.."
addr="${SMEMU_BENCH_ADDR:?set by scripts/bench.sh}"
s3="${SMEMU_BENCH_S3:?set by scripts/bench.sh}"
seconds="${BENCH_SECONDS:-2}"
# 9 rather than 5: on 2 cores rounds of one endpoint differ by up to 2x, and five gave medians a few
# percent apart from one run to the next, as wide as the target.
rounds="${BENCH_ROUNDS:-9}"
venv=$(scripts/ensure-venv.sh)
run="capture-$(date +%s)"
export AWS_ACCESS_KEY_ID=000000000000 AWS_SECRET_ACCESS_KEY=smemu AWS_DEFAULT_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
"$venv/bin/aws" --endpoint-url "http://$s3" s3 mb "s3://$run" >/dev/null
echo "== data capture (target: invoke throughput with capture at 100 % within 5 % of capture off)"
target/release/smemu-bench --target "$addr" --scenario deploy --endpoint "$run-off" >/dev/null
if [ "${BENCH_CAPTURE_CONTROL:-0}" = 1 ]; then
  echo "(control run: the \"capture on\" endpoint below captures nothing)"
  target/release/smemu-bench --target "$addr" --scenario deploy --endpoint "$run-on" >/dev/null
else
  target/release/smemu-bench --target "$addr" --scenario deploy --endpoint "$run-on" \
    --capture-destination "s3://$run/capture" >/dev/null
fi
# smemu's CPU time (user + system, in clock ticks) from /proc: with SMEMU_BENCH_PID, each round also gives
# smemu's CPU per call, which the containers' and docker-proxy's share of the machine does not blur as it
# blurs throughput (rounds of the same endpoint differ by up to 2x on 2 cores).
pid="${SMEMU_BENCH_PID:-}"
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
# Prints "ops/s cpu-us-per-call calls" (the second "-" without SMEMU_BENCH_PID).
ops() {
  local before after out
  [ -n "$pid" ] && before=$(ticks)
  out=$(target/release/smemu-bench --target "$addr" --scenario invoke --endpoint "$1" --concurrency "$2" \
    --seconds "$seconds" | awk '{for (i = 1; i < NF; i++) { if ($(i + 1) == "ops/s") r = $i; if ($i ~ /^\(/) n = substr($i, 2) } } END {print r, n}')
  read -r rate count <<<"$out"
  if [ -n "$pid" ]; then
    after=$(ticks)
    echo "$rate $(awk -v t=$((after - before)) -v hz="$hz" -v n="$count" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}') $count"
  else
    echo "$rate - $count"
  fi
}
# median, min and max of the numbers on stdin.
stats() { sort -n | awk '{v[NR] = $1} END {printf "%.0f %.0f %.0f\n", v[int((NR + 1) / 2)], v[1], v[NR]}'; }
stats1() { sort -n | awk '{v[NR] = $1} END {printf "%.1f %.1f %.1f\n", v[int((NR + 1) / 2)], v[1], v[NR]}'; }
captured_calls=0
for c in 1 16; do
  off=() on=() off_cpu=() on_cpu=()
  for _ in $(seq "$rounds"); do
    read -r rate cpu _ < <(ops "$run-off" "$c"); off+=("$rate"); off_cpu+=("$cpu")
    read -r rate cpu calls < <(ops "$run-on" "$c"); on+=("$rate"); on_cpu+=("$cpu")
    captured_calls=$((captured_calls + calls))
  done
  read -r off_med off_min off_max < <(printf '%s\n' "${off[@]}" | stats)
  read -r on_med on_min on_max < <(printf '%s\n' "${on[@]}" | stats)
  echo "invoke c=$c: capture off median $off_med ops/s ($off_min-$off_max), capture on median $on_med ops/s ($on_min-$on_max): $(awk -v a="$on_med" -v b="$off_med" 'BEGIN {printf "%.1f", 100 * a / b}') % of off ($rounds rounds of ${seconds} s)"
  # Each round's on/off ratio, of two runs seconds apart: the machine's drift (rounds of one endpoint
  # differ by up to 2x) cancels within a pair more than across the medians above.
  read -r pair_med pair_min pair_max < <(for i in "${!off[@]}"; do awk -v a="${on[$i]}" -v b="${off[$i]}" 'BEGIN {printf "%.1f\n", 100 * a / b}'; done | stats1)
  echo "  per round, capture on as % of the capture-off run before it: median $pair_med % ($pair_min-$pair_max)"
  if [ -n "$pid" ]; then
    read -r offc_med offc_min offc_max < <(printf '%s\n' "${off_cpu[@]}" | stats1)
    read -r onc_med onc_min onc_max < <(printf '%s\n' "${on_cpu[@]}" | stats1)
    echo "  smemu CPU per call c=$c: capture off median $offc_med us ($offc_min-$offc_max), capture on median $onc_med us ($onc_min-$onc_max): throughput bound by smemu's CPU would be $(awk -v a="$onc_med" -v b="$offc_med" 'BEGIN {printf "%.1f", 100 * b / a}') % of off"
  fi
done
# Every call on the capture endpoint should be a record: a throughput kept by dropping records would be
# no result. The writer flushes within --capture-flush-interval (2 s).
sleep 3
copy=$(mktemp -d)
"$venv/bin/aws" --endpoint-url "http://$s3" s3 cp --recursive --quiet "s3://$run/capture/" "$copy"
files=$(find "$copy" -name '*.jsonl' | wc -l)
records=$(find "$copy" -name '*.jsonl' -exec cat {} + | wc -l)
rm -rf "$copy"
echo "capture files written: $files, holding $records records for $captured_calls calls on the capture endpoint"
