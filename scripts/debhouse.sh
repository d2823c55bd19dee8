#!/usr/bin/env bash
# Fetch the .deb files an image needs beyond redfeed/base into build/debs/<image>/, so its
# Dockerfile installs them with --network none (the apt counterpart of the wheelhouse).
# Resolved inside redfeed/base itself, so exactly the missing dependencies are fetched.
# Refetched only when the package list or the base image changes.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-/usr/bin/docker}

for name in "$@"; do
  list=images/$name/packages.txt
  dest=build/debs/$name
  want=$( (cat "$list"; $DOCKER image inspect -f '{{.Id}}' redfeed/base) | sha256sum | cut -d' ' -f1)
  if [ -f "$dest/.inputs.sha256" ] && [ "$(cat "$dest/.inputs.sha256")" = "$want" ]; then
    continue
  fi
  echo "debhouse: $name" >&2
  rm -rf "$dest" && mkdir -p "$dest"
  packages=$(grep -vE '^\s*(#|$)' "$list" | tr '\n' ' ')
  $DOCKER run --rm -v "$PWD/$dest:/debs" redfeed/base bash -c "
    set -e
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends --download-only \
      -o Dir::Cache::archives=/debs $packages >/dev/null
    rm -rf /debs/partial /debs/lock
    chmod -R a+rX /debs"
  echo "$want" >"$dest/.inputs.sha256"
done
