#!/usr/bin/env bash
# Build redfeed/base from Debian packages with mmdebstrap and `docker import` (no registry).
# Skipped when an image with the same input hash already exists: a rootfs is never byte-identical
# between builds, so the hash of the inputs, not the layer, decides whether to rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-/usr/bin/docker}
IMAGE=${IMAGE:-redfeed/base}
PACKAGES=images/base/packages.txt
SOURCES=${REDFEED_APT_SOURCES:-/etc/apt/sources.list.d/debian.sources}
[ -f "$SOURCES" ] || SOURCES=/etc/apt/sources.list

hash=$(cat "$0" "$PACKAGES" | sha256sum | cut -c1-16)
have=$($DOCKER image inspect -f '{{index .Config.Labels "org.redfeed.inputs"}}' "$IMAGE" 2>/dev/null || true)
if [ "$have" = "$hash" ]; then
  echo "base: $IMAGE up to date ($hash)" >&2
  exit 0
fi

include=$(grep -vE '^\s*(#|$)' "$PACKAGES" | paste -sd, -)
echo "base: building $IMAGE from bookworm with $include" >&2
start=$(date +%s)
mmdebstrap \
  --variant=minbase \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
  --include="$include" \
  bookworm - "$SOURCES" \
  | $DOCKER import \
      -c 'ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1' \
      -c "LABEL org.redfeed.inputs=$hash" \
      -c 'CMD ["/bin/bash"]' \
      - "$IMAGE" >/dev/null
echo "base: $IMAGE built in $(( $(date +%s) - start ))s" >&2
