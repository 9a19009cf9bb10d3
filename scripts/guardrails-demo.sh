#!/usr/bin/env bash
# Deployment guardrails under load (not part of `make test`): starts smemu, deploys 3 instances of the
# test image answering `x|v1`, then runs a CANARY update (1 instance of 3, WaitIntervalInSeconds 10) and a
# LINEAR update (1 instance per step, 8 s each) to models answering `x|v2` / `x|v3`, with 4 clients
# calling back to back. Prints, every 2 seconds, the share of answers from the new fleet beside the
# step the deployment reports (DescribeEndpoint's pending VariantStatus), and the failed calls.
# SMEMU_BIN: the smemu to run (default target/debug/smemu, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${SMEMU_BIN:-target/debug/smemu}"
[ -x "$bin" ] || cargo build -q -p smemu
venv=$(scripts/ensure-venv.sh)
work=$(mktemp -d)
"$bin" serve --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 --data-dir "$work/data" --log-level warn > "$work/ready" 2> "$work/smemu.log" &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ -f "$work/data/owner-id" ]; then
    docker ps -aq --filter "label=smemu.owner=$(cat "$work/data/owner-id")" | xargs -r docker rm -f >/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q listening "$work/ready" && break; sleep 0.1; done
addr=$(sed -n 's#^smemu listening on http://\([^ ]*\) .*#\1#p' "$work/ready")
[ -n "$addr" ] || { echo "smemu did not start"; cat "$work/smemu.log"; exit 1; }
export AWS_ACCESS_KEY_ID=000000000000 AWS_SECRET_ACCESS_KEY=smemu AWS_DEFAULT_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
SMEMU_ADDR="$addr" "$venv/bin/python" - <<'PY'
import http.client, os, threading, time
import boto3

addr = os.environ["SMEMU_ADDR"]
sm = boto3.client("sagemaker", endpoint_url=f"http://{addr}")
name = "guardrails-demo"

def config(tag):
    sm.create_model(ModelName=tag, ExecutionRoleArn="arn:aws:iam::000000000000:role/x", Containers=[{
        "Image": "smemu-testmodel:latest",
        "Environment": {"SMEMU_TEST_ROLE": "transform", "SMEMU_TEST_TAG": tag}}])
    sm.create_endpoint_config(EndpointConfigName=tag, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": tag, "InstanceType": "ml.m5.large", "InitialInstanceCount": 3}])
    return tag

def settle():
    while (d := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] in ("Creating", "Updating", "RollingBack"):
        time.sleep(0.3)
    assert d["EndpointStatus"] == "InService", d

sm.create_endpoint(EndpointName=name, EndpointConfigName=config("v1"))
settle()

def run(new_tag, routing):
    answers, failed, stop = [], [0], threading.Event()
    def client():
        conn = http.client.HTTPConnection(addr)
        while not stop.is_set():
            try:
                conn.request("POST", f"/endpoints/{name}/invocations", body=b"x", headers={"Content-Type": "text/plain"})
                r = conn.getresponse()
                body = r.read().decode()
                if r.status == 200:
                    answers.append((time.time(), body == f"x|{new_tag}"))
                else:
                    failed[0] += 1
            except Exception:
                failed[0] += 1
                conn = http.client.HTTPConnection(addr)
    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    start = time.time()
    sm.update_endpoint(EndpointName=name, EndpointConfigName=config(new_tag),
                       DeploymentConfig={"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing}})
    steps = []
    while True:
        d = sm.describe_endpoint(EndpointName=name)
        pending = d.get("PendingDeploymentSummary", {}).get("ProductionVariants", [{}])[0].get("VariantStatus", [{}])[0]
        steps.append((time.time(), pending.get("Status", d["EndpointStatus"]), pending.get("StatusMessage", "")))
        if d["EndpointStatus"] == "InService":
            break
        time.sleep(0.25)
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join()
    print(f"\n== {routing['Type']} to {new_tag}: {len(answers)} answers, {failed[0]} failed calls")
    print(f"{'seconds':>7}  {'new fleet share':>15}  {'calls':>5}  configured step (DescribeEndpoint)")
    end = max(a[0] for a in answers)
    t = start
    while t < end:
        window = [new for (at, new) in answers if t <= at < t + 2]
        step = [s for s in steps if s[0] <= t + 2]
        status, message = (step[-1][1], step[-1][2]) if step else ("Updating", "")
        if window:
            print(f"{t - start:7.0f}  {100 * sum(window) / len(window):14.0f}%  {len(window):5d}  {status} {message}")
        t += 2

run("v2", {"Type": "CANARY", "WaitIntervalInSeconds": 10, "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}})
run("v3", {"Type": "LINEAR", "WaitIntervalInSeconds": 8, "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1}})
PY
