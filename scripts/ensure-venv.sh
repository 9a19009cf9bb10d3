#!/usr/bin/env bash
# Creates .venv with the pinned AWS CLI (the real client the tests drive). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
AWSCLI_VERSION="${AWSCLI_VERSION:-1.46.3}"
if [ -x .venv/bin/aws ] && .venv/bin/aws --version 2>&1 | grep -q "aws-cli/$AWSCLI_VERSION "; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check "awscli==$AWSCLI_VERSION"
.venv/bin/aws --version
