# smemu — run `make` for the list of targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
BOTOCORE_VERSION ?= 1.44.8
export SMEMU_REPO := $(CURDIR)

.PHONY: help run test lint fmt codegen codegen-check api-models test-deps docker venv test-image bench wheel image

help: ## List the documented targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: docker test-image ## Build and run smemu: API on 127.0.0.1:9090, S3 on 127.0.0.1:9091, state in .smemu/
	$(CARGO) run --release --bin smemu -- serve

test: lint codegen-check test-deps ## Lint, check generated code, then run every test (installs Docker and the AWS CLI when missing)
	$(CARGO) test --workspace --all-targets

lint: ## cargo fmt --check, clippy -D warnings, and no two modules importing each other
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	python3 scripts/check-module-cycles.py

fmt: ## Format the code
	$(CARGO) fmt --all

codegen: ## Regenerate crates/smemu-types/src/generated from api-models/
	$(CARGO) run -q -p smemu-codegen

codegen-check: ## Fail if the generated code is stale
	$(CARGO) run -q -p smemu-codegen -- --check

api-models: ## Refresh api-models/ from botocore (BOTOCORE_VERSION, default 1.44.8; needs PyPI), then regenerate
	rm -rf .smemu/botocore && mkdir -p .smemu/botocore
	python3 -m pip download --no-deps -q -d .smemu/botocore botocore==$(BOTOCORE_VERSION)
	cd .smemu/botocore && python3 -m zipfile -e botocore-$(BOTOCORE_VERSION)-py3-none-any.whl .
	python3 api-models/trim.py .smemu/botocore $(BOTOCORE_VERSION)
	$(MAKE) codegen

test-deps: docker venv test-image
	@command -v sqlite3 >/dev/null || (apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null)

docker: ## Install and start the Docker engine when none answers
	scripts/ensure-docker.sh

venv: ## Create .venv with the pinned AWS CLI, boto3 and SageMaker Python SDK
	scripts/ensure-venv.sh

test-image: ## Build the smemu-testmodel Docker image (no registry needed)
	scripts/build-test-image.sh

wheel: venv ## Build the `smemu` Python wheel (binary, smemu.Server, pytest plugin) into target/wheels/
	.venv/bin/maturin build --release --strip --out target/wheels

image: docker ## Build the Docker image smemu:<version> and smemu:latest (static binary, no registry)
	scripts/build-image.sh release

bench: ## Benchmarks: request rates, latencies, memory
	scripts/bench.sh
