#!/usr/bin/env bash
# Build every image under images/ (or those named) with BuildKit and --network none, parents
# first (a Dockerfile's `FROM redfeed/x` makes images/x its parent). BuildKit's content-addressed
# cache makes an unchanged image a no-op: same layers, same image id.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-/usr/bin/docker}
export DOCKER_BUILDKIT=1

code_version="redfeed $(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)+src.$(cat build/wheels/redfeed/.code-version)"
declare -A done=()

build() {
  local name=$1
  [ -n "${done[$name]:-}" ] && return
  local dockerfile=images/$name/Dockerfile
  [ -f "$dockerfile" ] || { echo "images: no $dockerfile" >&2; exit 2; }
  local parent
  parent=$(sed -n 's#^FROM redfeed/\([a-z0-9-]*\).*#\1#p' "$dockerfile" | head -1)
  if [ -n "$parent" ] && [ "$parent" != base ]; then
    build "$parent"
  fi
  local start=$SECONDS
  $DOCKER build --quiet --network none \
    --build-arg CODE_VERSION="$code_version" \
    -f "$dockerfile" -t "redfeed/$name" . >/dev/null
  echo "images: redfeed/$name ($((SECONDS - start))s, $($DOCKER image inspect -f '{{.Id}}' "redfeed/$name" | cut -c8-19))" >&2
  done[$name]=1
}

if [ $# -eq 0 ]; then
  set -- $(ls images/*/Dockerfile | cut -d/ -f2)
fi
for name in "$@"; do
  build "$name"
done
