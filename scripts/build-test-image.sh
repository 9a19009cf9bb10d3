#!/usr/bin/env bash
# Builds the test image smemu-testmodel:latest with no registry: a statically linked
# smemu-testmodel in an otherwise empty root filesystem, imported with `docker import`.
# Skips the import when the image already carries the binary's hash.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${SMEMU_TEST_IMAGE:-smemu-testmodel:latest}"
TARGET_DIR=target/testmodel   # own target dir: the static flags must not invalidate the main build
RUSTFLAGS='-C target-feature=+crt-static' cargo build -q --release -p smemu-testmodel \
  --target x86_64-unknown-linux-gnu --target-dir "$TARGET_DIR"
binary="$TARGET_DIR/x86_64-unknown-linux-gnu/release/smemu-testmodel"
hash=$(sha256sum "$binary" | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "smemu.test-image-hash"}}' "$IMAGE" 2>/dev/null)" = "$hash" ]; then
  echo "build-test-image: $IMAGE is up to date ($hash)"
  exit 0
fi
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/opt/ml/model" "$rootfs/tmp" "$rootfs/etc"
cp "$binary" "$rootfs/smemu-testmodel"
tar -C "$rootfs" -c . | docker import \
  --change 'ENTRYPOINT ["/smemu-testmodel"]' \
  --change 'CMD ["serve"]' \
  --change 'LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true' \
  --change "LABEL smemu.test-image-hash=$hash" \
  - "$IMAGE" >/dev/null
echo "build-test-image: imported $IMAGE ($hash)"
