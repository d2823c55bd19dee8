#!/usr/bin/env bash
# `make demo`: start the local stack, run the confs.tech scraper image against the source mirror
# (serving generated sample data), and print the committed batch's manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
COMPOSE+=(-p "${REDFEED_PROJECT:-redfeed}" -f compose/docker-compose.yml)

year=$(date -u +%Y)
data=build/demo-data
rm -rf "$data/confs-tech" && mkdir -p "$data/confs-tech"
.venv/bin/redfeed sample-data --out "$data/confs-tech" --years "$year,$((year + 1))"
chmod -R a+rX "$data"
export REDFEED_DEMO_DATA=$PWD/$data

echo "== starting s3 and source-mirror" >&2
"${COMPOSE[@]}" up -d --quiet-pull s3 source-mirror 2>&1 | grep -v -e '^Creating' -e '^Starting' >&2 || true
for _ in $(seq 60); do
  unhealthy=$("${COMPOSE[@]}" ps | grep -cE 'starting|unhealthy' || true)
  [ "$unhealthy" = 0 ] && break
  sleep 1
done
"${COMPOSE[@]}" run --rm -T archive-init

today=$(date -u +%Y-%m-%d)
run_id="demo__$(date -u +%Y%m%dT%H%M%SZ)"
echo "== scraping confs.tech (sample) for interval $today, run $run_id" >&2
summary=$("${COMPOSE[@]}" run --rm -T -e REDFEED_RUN_ID="$run_id" -e REDFEED_INTERVAL_START="$today" \
  scraper-confs-tech 2>/dev/null | tail -n 1)
echo "$summary" | "$PY" -m json.tool

echo "== committed batches" >&2
"${COMPOSE[@]}" run --rm -T --entrypoint redfeed archive-init archive batches --feed confs-tech 2>/dev/null
echo "== manifest" >&2
"${COMPOSE[@]}" run --rm -T --entrypoint redfeed archive-init archive manifest --feed confs-tech \
  --interval-start "$today" --run-id "$run_id" 2>/dev/null
echo "The stack is still up: ${COMPOSE[*]} down   # to stop it" >&2
