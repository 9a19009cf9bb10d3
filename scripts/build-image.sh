#!/usr/bin/env bash
# Builds the smemu image without any registry: the smemu binary in an otherwise empty root
# filesystem (plus /tmp and the host's CA bundle), imported with `docker import` as smemu:<version> and smemu:latest.
#
#   scripts/build-image.sh            # release: a statically linked binary (make image)
#   scripts/build-image.sh dev        # the debug build with the shared libraries it links (the test's, no extra compile)
#   SMEMU_IMAGE_NAME=other scripts/build-image.sh   # other:<version> and other:latest
#   SMEMU_BINARY=path scripts/build-image.sh dev    # that debug binary, built already (tests)
#
# Prints the image id. The image carries the label smemu.image-hash (binary and layout); when the
# image already has the current hash nothing is imported. Run it as README shows:
#   docker run --rm --network host -v /var/run/docker.sock:/var/run/docker.sock \
#     -v "$PWD/.smemu:$PWD/.smemu" -w "$PWD" smemu:latest
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE="${1:-release}"
NAME="${SMEMU_IMAGE_NAME:-smemu}"
HASH_LABEL=smemu.image-hash
TARGET="$(rustc -vV | sed -n 's/^host: //p')"

if ! docker info >/dev/null 2>&1; then
  echo "build-image: no Docker engine answers; run scripts/ensure-docker.sh first" >&2
  exit 1
fi

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
case "$PROFILE" in
  release)
    # crt-static links glibc statically: the image needs no libc or loader. Its own target dir:
    # the static RUSTFLAGS would otherwise invalidate the main build's cache.
    RUSTFLAGS='-C target-feature=+crt-static' cargo build -q --release --bin smemu \
      --target "$TARGET" --target-dir target/image >&2
    binary="target/image/$TARGET/release/smemu"
    ;;
  dev)
    # The debug build `cargo test` made (a static one would compile every dependency again):
    # the binary with the libraries and loader it links, at their paths.
    binary="${SMEMU_BINARY:-target/debug/smemu}"
    [ -n "${SMEMU_BINARY:-}" ] || cargo build -q --bin smemu >&2
    for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
      mkdir -p "$rootfs$(dirname "$lib")"
      cp -L "$lib" "$rootfs$lib"
    done
    ;;
  *)
    echo "build-image: unknown profile $PROFILE (release or dev)" >&2
    exit 2
    ;;
esac
install -m 0755 "$binary" "$rootfs/smemu"
# The release profile keeps debug info for profiling; the image does not need it (265 MB -> a few tens).
[ "$PROFILE" != release ] || strip "$rootfs/smemu"
# The AWS SDK's HTTPS client (an external --s3-endpoint) panics at start-up without any trusted root
# certificate, so the host's bundle goes in, where rustls-native-certs looks for it.
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
if [ ! -f "$CA_BUNDLE" ]; then
  echo "build-image: no CA bundle at $CA_BUNDLE (Debian: apt-get install ca-certificates; or set CA_BUNDLE)" >&2
  exit 1
fi
mkdir -p "$rootfs/etc/ssl/certs"
install -m 0644 "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
version="$("$binary" --version | awk '{print $2}')"

CHANGES=(
  'ENTRYPOINT ["/smemu"]'
  'CMD ["serve"]'
)
LAYOUT="v1 $PROFILE ${CHANGES[*]}"
hash=$( (tar -C "$rootfs" --owner=0 --group=0 --sort=name --mtime=@0 -c . | sha256sum; echo "$LAYOUT") | sha256sum | cut -c1-16)
current_hash() { docker image inspect -f "{{index .Config.Labels \"$HASH_LABEL\"}}" "$1" 2>/dev/null || true; }

if [ "$(current_hash "$NAME:$version")" = "$hash" ] && [ "$(current_hash "$NAME:latest")" = "$hash" ]; then
  echo "build-image: $NAME:$version is up to date ($HASH_LABEL=$hash)" >&2
else
  args=()
  for change in "${CHANGES[@]}"; do args+=(--change "$change"); done
  tar -C "$rootfs" --owner=0 --group=0 -c . | docker import "${args[@]}" \
    --change "LABEL $HASH_LABEL=$hash" \
    --message "smemu $version ($PROFILE) $hash" \
    - "$NAME:$version" >/dev/null
  docker tag "$NAME:$version" "$NAME:latest"
  echo "build-image: imported $NAME:$version and $NAME:latest ($PROFILE, $HASH_LABEL=$hash)" >&2
fi
docker image inspect -f '{{.Id}}' "$NAME:latest"
