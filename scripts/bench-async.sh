#!/usr/bin/env bash
# The async inference part of `make bench`: InvokeEndpointAsync requests per second through a
# 2-container pipeline of the test image (`transform` role) with 1 and 2 instances, from the first
# request sent to the last output object written to the embedded S3 (polled by listing), beside
# InvokeEndpoint of the same pipeline called with the same concurrency (MaxConcurrentInvocationsPerInstance
# x instances). Rounds interleave the four figures; ranges are reported. Then the same async figures
# with smemu-bench as the client (`--scenario async`: 16 keep-alive connections, no Python), which
# shows whether the boto3 client bounds them. Expects SMEMU_BENCH_ADDR and SMEMU_BENCH_S3 (a running
# release smemu) and Docker with smemu-testmodel:latest.
set -euo pipefail
cd "$(dirname "$0")/.."
addr="${SMEMU_BENCH_ADDR:?set by scripts/bench.sh}"
s3="${SMEMU_BENCH_S3:?set by scripts/bench.sh}"
venv=$(scripts/ensure-venv.sh)
export AWS_ACCESS_KEY_ID=000000000000 AWS_SECRET_ACCESS_KEY=smemu AWS_DEFAULT_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
SMEMU_BENCH_ADDR="$addr" SMEMU_BENCH_S3="$s3" "$venv/bin/python" - <<'PY'
import concurrent.futures, os, time, uuid
import boto3
from botocore.config import Config

addr, s3_addr = os.environ["SMEMU_BENCH_ADDR"], os.environ["SMEMU_BENCH_S3"]
requests = int(os.environ.get("BENCH_ASYNC_REQUESTS", "400"))
rounds = int(os.environ.get("BENCH_ASYNC_ROUNDS", "3"))
per_instance = 4
cfg = Config(max_pool_connections=64, retries={"max_attempts": 1})
sm = boto3.client("sagemaker", endpoint_url=f"http://{addr}", config=cfg)
rt = boto3.client("sagemaker-runtime", endpoint_url=f"http://{addr}", config=cfg)
s3 = boto3.client("s3", endpoint_url=f"http://{s3_addr}", config=cfg)
run = f"bench-async-{uuid.uuid4().hex[:8]}"
s3.create_bucket(Bucket=run)
body = b"0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8\n" * 4
s3.put_object(Bucket=run, Key="in/input.csv", Body=body)
containers = [
    {"Image": "smemu-testmodel:latest", "ContainerHostname": f"c{i}",
     "Environment": {"SMEMU_TEST_ROLE": "transform", "SMEMU_TEST_TAG": f"t{i}"}}
    for i in (1, 2)
]
sm.create_model(ModelName=run, Containers=containers, ExecutionRoleArn="arn:aws:iam::000000000000:role/x")

def deploy(name, instances, asynchronous):
    extra = {}
    if asynchronous:
        extra["AsyncInferenceConfig"] = {
            "OutputConfig": {"S3OutputPath": f"s3://{run}/{name}/out", "S3FailurePath": f"s3://{run}/{name}/fail"},
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": per_instance},
        }
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": run, "InstanceType": "ml.m5.large",
        "InitialInstanceCount": instances}], **extra)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    while (status := sm.describe_endpoint(EndpointName=name)["EndpointStatus"]) in ("Creating", "Updating"):
        time.sleep(0.5)
    assert status == "InService", status

endpoints = {}
for instances in (1, 2):
    for mode in ("async", "invoke"):
        name = f"{run}-{mode}-{instances}"
        deploy(name, instances, mode == "async")
        endpoints[(mode, instances)] = name

def listed(prefix):
    count, token = 0, None
    while True:
        kw = {"Bucket": run, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
        page = s3.list_objects_v2(**kw)
        count += page.get("KeyCount", 0)
        if not page.get("IsTruncated"):
            return count
        token = page["NextContinuationToken"]

def async_round(name, instances, tag):
    ids = [f"{tag}-{i}" for i in range(requests)]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: rt.invoke_endpoint_async(
            EndpointName=name, InputLocation=f"s3://{run}/in/input.csv", ContentType="text/csv", InferenceId=i), ids))
    accepted = time.perf_counter() - start
    while listed(f"{name}/out/{tag}-") < requests:
        assert listed(f"{name}/fail/{tag}-") == 0, "a request failed"
        time.sleep(0.05)
    return requests / (time.perf_counter() - start), requests / accepted

def invoke_round(name, instances):
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(per_instance * instances) as pool:
        list(pool.map(lambda _: rt.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv")["Body"].read(),
                      range(requests)))
    return requests / (time.perf_counter() - start)

results = {}
for r in range(rounds):
    for instances in (1, 2):
        done, accept = async_round(endpoints[("async", instances)], instances, f"r{r}")
        results.setdefault(("async", instances), []).append(done)
        results.setdefault(("accept", instances), []).append(accept)
        results.setdefault(("invoke", instances), []).append(invoke_round(endpoints[("invoke", instances)], instances))

print(f"== async inference: {requests} requests per round, {rounds} interleaved rounds, 2-container pipeline "
      f"(transform role), MaxConcurrentInvocationsPerInstance={per_instance}; boto3 client, 16 submitting threads")
for instances in (1, 2):
    fmt = lambda key: "{:.0f}-{:.0f}/s".format(min(results[key]), max(results[key]))
    print(f"instances={instances}: InvokeEndpointAsync accept->output written {fmt(('async', instances))} "
          f"(accepted {fmt(('accept', instances))}); InvokeEndpoint same pipeline, "
          f"c={per_instance * instances}: {fmt(('invoke', instances))}")
for name in endpoints.values():
    sm.delete_endpoint(EndpointName=name)
PY

# The async figures again with a client that is not the bound: accepts run at thousands per second
# (the boto3 part accepts a few hundred), so what remains is smemu's own path per request.
run="async-rs-$(date +%s)"
aws() { "$venv/bin/aws" --endpoint-url "http://$s3" "$@"; }
aws s3 mb "s3://$run" >/dev/null
printf '0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8\n%.0s' 1 2 3 4 | aws s3 cp - "s3://$run/in/input.csv" >/dev/null
for instances in 1 2; do
  target/release/smemu-bench --target "$addr" --scenario deploy --role transform --instances "$instances" \
    --endpoint "$run-$instances" --async-output "s3://$run/out-$instances" >/dev/null
done
declare -A rates
for _ in $(seq "${BENCH_ASYNC_ROUNDS:-3}"); do
  for instances in 1 2; do
    rates[$instances]+="$(target/release/smemu-bench --target "$addr" --scenario async --endpoint "$run-$instances" \
      --input "s3://$run/in/input.csv" --output "s3://$run/out-$instances" --s3 "$s3" \
      --requests "${BENCH_ASYNC_REQUESTS:-400}" --concurrency 16 | sed -n 's#.*written at \([0-9]*\) req/s#\1#p') "
  done
done
for instances in 1 2; do
  echo "instances=$instances: InvokeEndpointAsync accept->output written, smemu-bench client (c=16): $(tr ' ' '\n' <<<"${rates[$instances]}" | sed '/^$/d' | sort -n | sed -n '1p;$p' | paste -sd-)/s"
done
