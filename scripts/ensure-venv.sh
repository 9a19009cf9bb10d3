#!/usr/bin/env bash
# Creates .venv/ in the repo root with the pinned AWS CLI, boto3 and SageMaker Python SDK (the real
# clients the tests drive), maturin and pytest (the wheel's build and its test), and prints the
# venv's path. Idempotent: does nothing when the venv
# already has every one of those versions; installs what is missing or different otherwise.
#
#   scripts/ensure-venv.sh            # prints /path/to/repo/.venv
#   AWSCLI_VERSION=1.45.64 scripts/ensure-venv.sh
#
# Why 1.46.3: smemu's models come from botocore 1.44.8, but no awscli release depends on that
# botocore: awscli 1.45.64 is the last to depend on botocore (==1.43.64), and from 1.46.0 on awscli
# bundles its own copy (1.46.3 carries botocore 1.43.62 as awscli/botocore). 1.46.3 is the newest
# awscli; its SageMaker model lacks some operations added in botocore 1.44 but has every one smemu
# serves.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$repo/.venv"
AWSCLI_VERSION="${AWSCLI_VERSION:-1.46.3}"
# boto3 1.44.8 carries botocore 1.44.8, the release smemu's models come from. sagemaker 2.257.7 is
# the newest 2.x: `Transformer.transform(..., logs=True)` prints a job's container logs through
# CloudWatch Logs (tests/it/logs.rs drives it).
BOTO3_VERSION="${BOTO3_VERSION:-1.44.8}"
SAGEMAKER_VERSION="${SAGEMAKER_VERSION:-2.257.7}"
# maturin builds the `smemu` wheel (`make wheel`); pytest runs the wheel's plugin in its test.
MATURIN_VERSION="${MATURIN_VERSION:-1.16.0}"
PYTEST_VERSION="${PYTEST_VERSION:-9.2.0}"

installed() {
  [ -x "$venv/bin/aws" ] && "$venv/bin/aws" --version 2>&1 | grep -q "^aws-cli/$AWSCLI_VERSION " \
    && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("boto3"), m.version("sagemaker"), m.version("maturin"), m.version("pytest"))' 2>/dev/null)" \
      = "$BOTO3_VERSION $SAGEMAKER_VERSION $MATURIN_VERSION $PYTEST_VERSION" ]
}

if installed; then
  echo "$venv"
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
  echo "ensure-venv: python3 with the venv module is needed (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "awscli==$AWSCLI_VERSION" "boto3==$BOTO3_VERSION" \
  "sagemaker==$SAGEMAKER_VERSION" "maturin==$MATURIN_VERSION" "pytest==$PYTEST_VERSION" >&2
"$venv/bin/aws" --version >&2
echo "$venv"
