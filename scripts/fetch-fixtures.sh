#!/usr/bin/env bash
# Fetch the tests' real public data (see ../shared/fixtures/README.md) from the upstream
# repositories at pinned revisions, for a machine without ../shared (GitHub's runners). Never
# commit the result: it is upstream's data, read by the tests from $1 (or $REDFEED_FIXTURES).
#   scripts/fetch-fixtures.sh [DIR]      default: ../shared/fixtures
set -euo pipefail
cd "$(dirname "$0")/.."

dest=${1:-${REDFEED_FIXTURES:-../shared/fixtures}}
# The revisions the fixtures were taken from (../shared/fixtures/README.md).
CONFS_TECH_REF=${CONFS_TECH_REF:-f8c761c}
PYTHON_ORGANIZERS_REF=${PYTHON_ORGANIZERS_REF:-f0adf0f}
# Not recorded in the fixtures' README: the default branch unless pinned here.
PROGRAMAPI_REF=${PROGRAMAPI_REF:-HEAD}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

checkout() {  # <owner/repo> <ref> <dir>: a blob-less clone, so only the checked-out files download
  git clone -q --filter=blob:none --no-checkout "https://github.com/$1" "$3"
  git -C "$3" checkout -q "$2"
}

checkout tech-conferences/conference-data "$CONFS_TECH_REF" "$work/confs-tech"
mkdir -p "$dest/confs-tech/conferences"
for year in $(seq 2013 2024); do
  cp -r "$work/confs-tech/conferences/$year" "$dest/confs-tech/conferences/"
done

checkout python-organizers/conferences "$PYTHON_ORGANIZERS_REF" "$work/python-organizers"
mkdir -p "$dest/python-organizers"
for year in $(seq 2017 2024); do
  cp "$work/python-organizers/$year.csv" "$dest/python-organizers/"
done

checkout EuroPython/programapi "$PROGRAMAPI_REF" "$work/programapi"
mkdir -p "$dest/pretalx-europython/pretalx" "$dest/pretalx-europython/europython"
cp "$work/programapi/data/examples/pretalx/"{submissions,speakers}.json \
  "$dest/pretalx-europython/pretalx/"
cp "$work/programapi/data/examples/europython/"{sessions,speakers}.json \
  "$dest/pretalx-europython/europython/"

echo "fixtures: $(find "$dest" -type f | wc -l) files in $dest" >&2
