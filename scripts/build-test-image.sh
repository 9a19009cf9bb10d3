#!/usr/bin/env bash
# Builds the test image smemu-testmodel:latest without any registry: a statically linked
# smemu-testmodel in an otherwise empty root filesystem, imported with `docker import`.
#
#   scripts/build-test-image.sh        # prints the image id (sha256:...)
#
# The image carries the label smemu.test-image-hash (the binary's and this layout's hash); when the
# image already has the current hash nothing is imported. Needs a running engine
# (scripts/ensure-docker.sh). SMEMU_TEST_IMAGE overrides the image name.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${SMEMU_TEST_IMAGE:-smemu-testmodel:latest}"
HASH_LABEL=smemu.test-image-hash
TARGET="$(rustc -vV | sed -n 's/^host: //p')"
# Its own target dir: the static RUSTFLAGS would otherwise invalidate the main build's cache.
TARGET_DIR=target/testmodel

if ! docker info >/dev/null 2>&1; then
  echo "build-test-image: no Docker engine answers; run scripts/ensure-docker.sh first" >&2
  exit 1
fi

# crt-static links glibc statically: the image needs no libc, loader or anything else.
RUSTFLAGS='-C target-feature=+crt-static' cargo build -q --release -p smemu-testmodel \
  --target "$TARGET" --target-dir "$TARGET_DIR" >&2
binary="$TARGET_DIR/$TARGET/release/smemu-testmodel"

# What goes into the image besides the binary; part of the hash, so changing it rebuilds.
CHANGES=(
  'ENTRYPOINT ["/smemu-testmodel"]'
  'CMD ["serve"]'
  'LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true'
)
LAYOUT="v2 /smemu-testmodel /tmp /opt/ml/model /etc ${CHANGES[*]}"
hash=$( (sha256sum <"$binary"; echo "$LAYOUT") | sha256sum | cut -c1-16)

current_id() { docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true; }
current_hash() { docker image inspect -f "{{index .Config.Labels \"$HASH_LABEL\"}}" "$IMAGE" 2>/dev/null || true; }

if [ "$(current_hash)" = "$hash" ]; then
  echo "build-test-image: $IMAGE is up to date ($HASH_LABEL=$hash)" >&2
  current_id
  exit 0
fi
previous="$(current_id)"

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/opt/ml/model" "$rootfs/tmp" "$rootfs/etc"
chmod 1777 "$rootfs/tmp"
install -m 0755 "$binary" "$rootfs/smemu-testmodel"
args=()
for change in "${CHANGES[@]}"; do args+=(--change "$change"); done
tar -C "$rootfs" --owner=0 --group=0 -c . | docker import "${args[@]}" \
  --change "LABEL $HASH_LABEL=$hash" \
  --message "smemu-testmodel $hash" \
  - "$IMAGE" >/dev/null
echo "build-test-image: imported $IMAGE ($HASH_LABEL=$hash)" >&2

# The replaced image is now untagged; drop it unless containers still use it (then it stays).
if [ -n "$previous" ] && [ "$previous" != "$(current_id)" ]; then
  docker image rm "$previous" >/dev/null 2>&1 || true
fi
current_id
