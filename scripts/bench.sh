#!/usr/bin/env bash
# make bench: control-plane request rates and latencies of a release smemu on loopback, its idle memory,
# endpoint deploy and invoke figures, and batch transform records/s (each beside its direct baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
# SMEMU_BIN: another build of smemu to measure (scripts/bench-compare.sh runs two, interleaved); the load
# generator is always this tree's.
bin="${SMEMU_BIN:-target/release/smemu}"
cargo build --release -q -p smemu-bench
[ -n "${SMEMU_BIN:-}" ] || cargo build --release -q -p smemu
work=$(mktemp -d)
"$bin" serve --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 --data-dir "$work/data" --log-level warn > "$work/ready" 2> "$work/smemu.log" &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  # The benchmark's containers, by the owner id smemu labelled them with.
  if [ -f "$work/data/owner-id" ]; then
    docker ps -aq --filter "label=smemu.owner=$(cat "$work/data/owner-id")" | xargs -r docker rm -f >/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q listening "$work/ready" && break; sleep 0.1; done
addr=$(sed -n 's#^smemu listening on http://\([^ ]*\) .*#\1#p' "$work/ready")
s3=$(sed -n 's#^smemu listening on .* s3=http://\([^ ]*\).*#\1#p' "$work/ready")
[ -n "$addr" ] || { echo "smemu did not start"; cat "$work/smemu.log"; exit 1; }
sleep 1
echo "== smemu control plane on $addr (targets: DescribeModel c=16 >= 15000/s with p99 < 5 ms; idle RSS < 30 MB)"
echo "idle RSS: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)"
for c in 1 16; do
  target/release/smemu-bench --target "$addr" --scenario describe-model --concurrency "$c" --seconds "${BENCH_SECONDS:-5}"
done
SMEMU_BENCH_ADDR="$addr" scripts/bench-writes.sh
echo "RSS after load: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)"
scripts/ensure-docker.sh >/dev/null && scripts/build-test-image.sh >/dev/null
SMEMU_BENCH_ADDR="$addr" SMEMU_BENCH_PID="$pid" scripts/bench-endpoints.sh
SMEMU_BENCH_ADDR="$addr" SMEMU_BENCH_S3="$s3" scripts/bench-transform.sh
SMEMU_BENCH_ADDR="$addr" scripts/bench-streaming.sh
SMEMU_BENCH_ADDR="$addr" SMEMU_BENCH_PID="$pid" SMEMU_BENCH_S3="$s3" scripts/bench-capture.sh
SMEMU_BENCH_ADDR="$addr" SMEMU_BENCH_S3="$s3" scripts/bench-async.sh
# The allocator hands freed pages back after its decay time (10 s).
sleep 12
echo "idle RSS 12 s after the last job: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)"
