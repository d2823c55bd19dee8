#!/usr/bin/env bash
# Build the wheelhouses the images install from (they build with --network none).
#   build/wheels/<lock>/   every pinned dependency of requirements/<lock>.txt (hash-checked)
#   build/wheels/redfeed/  the redfeed wheel, byte-reproducible so unchanged code hits the cache
# A wheelhouse is rebuilt only when its lock file changes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

for lock in "$@"; do
  dest=build/wheels/$lock
  stamp=$dest/.lock.sha256
  want=$(sha256sum "requirements/$lock.txt" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  echo "wheelhouse: $lock" >&2
  rm -rf "$dest" && mkdir -p "$dest"
  "$PYTHON" -m pip wheel -q --disable-pip-version-check --require-hashes --no-deps \
    -r "requirements/$lock.txt" -w "$dest"
  echo "$want" >"$stamp"
done

# The project's own wheel: SOURCE_DATE_EPOCH pins zip timestamps, so the same sources give the
# same bytes and Docker's cache holds.
dest=build/wheels/redfeed
want=$( (cat pyproject.toml; find src -type f -name '*.py' -o -name py.typed | LC_ALL=C sort | xargs cat) | sha256sum | cut -d' ' -f1)
if [ ! -f "$dest/.src.sha256" ] || [ "$(cat "$dest/.src.sha256")" != "$want" ]; then
  echo "wheelhouse: redfeed" >&2
  rm -rf "$dest" build/lib build/bdist.* src/*.egg-info && mkdir -p "$dest"
  SOURCE_DATE_EPOCH=315532800 "$PYTHON" -m pip wheel -q --disable-pip-version-check --no-deps . -w "$dest"
  rm -rf build/lib build/bdist.* src/*.egg-info
  echo "$want" >"$dest/.src.sha256"
fi
echo "${want:0:12}" >build/wheels/redfeed/.code-version
