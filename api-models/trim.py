#!/usr/bin/env python3
"""Trim botocore's service models to the operations smemu serves.

Reads the full models from an unpacked botocore wheel (argument: its root),
keeps the operations listed in operations.txt and every shape they reach,
drops documentation strings, and writes <service>.json beside this script.
"""
import gzip
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
SERVICES = {
    "sagemaker": "sagemaker/2017-07-24",
    "sagemaker-runtime": "sagemaker-runtime/2017-05-13",
    "logs": "logs/2014-03-28",
    "cloudwatch": "cloudwatch/2010-08-01",
}
DROP_KEYS = {"documentation", "documentationUrl", "deprecatedMessage", "examples"}

# smemu's deliberate local extension (shared/sagemaker-contract.md section 8): `file://` URIs are
# accepted wherever an S3 URI is, as the SageMaker Python SDK's local mode does. Everything else
# validates exactly as botocore's model says.
FILE_URI = "|file:///.*"
PATTERN_OVERRIDES = {
    "sagemaker": {name: "(https|s3)://([^/]+)/?(.*)" + FILE_URI for name in ("Url", "S3Uri", "S3ModelUri")},
}


def wanted_operations():
    ops = {}
    for line in (HERE / "operations.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        service, op = line.split()
        ops.setdefault(service, []).append(op)
    return ops


def strip_docs(value):
    if isinstance(value, dict):
        return {k: strip_docs(v) for k, v in value.items() if k not in DROP_KEYS}
    if isinstance(value, list):
        return [strip_docs(v) for v in value]
    return value


def reachable(shapes, roots):
    seen, stack = set(), list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        refs = []
        refs += [m["shape"] for m in shape.get("members", {}).values()]
        for key in ("member", "key", "value"):
            if key in shape:
                refs.append(shape[key]["shape"])
        stack.extend(refs)
    return seen


def main():
    root = pathlib.Path(sys.argv[1]) / "botocore" / "data"
    version = sys.argv[2] if len(sys.argv) > 2 else "unknown"
    for service, ops in wanted_operations().items():
        path = root / SERVICES[service] / "service-2.json.gz"
        model = json.loads(gzip.decompress(path.read_bytes()))
        operations = {op: model["operations"][op] for op in sorted(ops)}
        roots = []
        for op in operations.values():
            for key in ("input", "output"):
                if key in op:
                    roots.append(op[key]["shape"])
            roots += [e["shape"] for e in op.get("errors", [])]
        keep = reachable(model["shapes"], roots)
        trimmed = {
            "version": model.get("version"),
            "metadata": model["metadata"],
            "operations": operations,
            "shapes": {k: model["shapes"][k] for k in sorted(keep)},
        }
        for name, pattern in PATTERN_OVERRIDES.get(service, {}).items():
            if name in trimmed["shapes"]:
                trimmed["shapes"][name]["pattern"] = pattern
        trimmed = strip_docs(trimmed)
        trimmed["metadata"]["x-smemu-botocore-version"] = version
        out = HERE / f"{service}.json"
        out.write_text(json.dumps(trimmed, indent=1, sort_keys=True) + "\n")
        print(f"{out.name}: {len(operations)} operations, {len(keep)} shapes")


if __name__ == "__main__":
    main()
