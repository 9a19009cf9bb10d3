#!/usr/bin/env bash
# The batch transform part of `make bench`: 100,000 CSV lines (two objects of 50,000, so that two
# instances have one each) in smemu's embedded S3, through a 2-container pipeline of the test image
# (`transform` role), MultiRecord, on 1 and 2 instances; beside the bench client sending the same
# batches with the same concurrency per instance straight to the containers of an endpoint of the
# same model. Expects SMEMU_BENCH_ADDR and SMEMU_BENCH_S3 (a running release smemu) and Docker
# with smemu-testmodel:latest.
set -euo pipefail
cd "$(dirname "$0")/.."
addr="${SMEMU_BENCH_ADDR:?set by scripts/bench.sh}"
s3="${SMEMU_BENCH_S3:?set by scripts/bench.sh}"
concurrency="${BENCH_TRANSFORM_CONCURRENCY:-4}"
payload_mb="${BENCH_TRANSFORM_PAYLOAD_MB:-1}"
lines=100000
venv=$(scripts/ensure-venv.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/in"
# 40 numeric columns, about 200 bytes a line: a plausible row of features.
for part in 0 1; do
  awk -v part="$part" -v n=$((lines / 2)) 'BEGIN {
    for (i = 0; i < n; i++) {
      line = part * n + i
      for (c = 0; c < 40; c++) printf "%s%.3f", (c ? "," : ""), ((line * 7 + c * 13) % 1000) / 7
      printf "\n"
    }
  }' > "$work/in/part-$part.csv"
done
run="bench-$(date +%s)"
export AWS_ACCESS_KEY_ID=000000000000 AWS_SECRET_ACCESS_KEY=smemu AWS_DEFAULT_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
"$venv/bin/aws" --endpoint-url "http://$s3" s3 mb "s3://$run" >/dev/null
"$venv/bin/aws" --endpoint-url "http://$s3" s3 cp --recursive --quiet "$work/in" "s3://$run/in"

echo "== batch transform: $lines CSV lines ($(du -sh "$work/in" | cut -f1)) in 2 objects, 2-container pipeline, MultiRecord," \
  "MaxPayloadInMB=$payload_mb, MaxConcurrentTransforms=$concurrency (target: >= 80 % of direct)"
# The endpoint's containers are the baseline's; its model is the jobs' model.
target/release/smemu-bench --target "$addr" --scenario deploy --endpoint "$run" --role transform --instances 2 >/dev/null
pipelines=()
for first in $(docker ps -q --filter "label=smemu.resource=000000000000/us-east-1/$run" --filter "label=smemu.container-index=0"); do
  # The containers of an instance share one network namespace: the first publishes both ports.
  pipelines+=("$(docker port "$first" 8080/tcp | head -1),$(docker port "$first" 8081/tcp | head -1)")
done
[ "${#pipelines[@]}" -eq 2 ] || { echo "expected 2 instances of $run, found ${#pipelines[@]}"; exit 1; }
common=(--concurrency "$concurrency" --payload-mb "$payload_mb" --records "$lines")
for instances in 1 2; do
  for _ in 1 2 3; do
    target/release/smemu-bench --target "$addr" --scenario transform --model "$run" --instances "$instances" \
      --input "s3://$run/in/" --output "s3://$run/out" "${common[@]}"
  done
  direct=()
  for pipeline in "${pipelines[@]:0:$instances}"; do direct+=(--pipeline "$pipeline"); done
  for _ in 1 2 3; do
    target/release/smemu-bench --target "$addr" --scenario transform-direct "${direct[@]}" \
      --files "$work/in/part-0.csv,$work/in/part-1.csv" "${common[@]}"
  done
done
