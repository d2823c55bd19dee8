#!/usr/bin/env bash
# `make demo`: the whole pipeline on the local stack, driven through Airflow's REST API.
#   1. demo data for the source mirror (generated, every feed in its source's real layout);
#   2. compose/.env from compose/.env.example with random secrets, if missing (never overwritten;
#      empty secrets in an existing file are filled in);
#   3. docker-compose up -d, then wait until every service is healthy and the one-shots succeeded;
#   4. REST API (scripts/airflow_api.py), for every feed of dags/feeds.yaml: unpause its DAG and
#      backfill its last $REDFEED_DEMO_DAYS daily intervals, or, for a latest_only feed (a
#      snapshot of the source as it is now), trigger one run; the others first (home pages read
#      their batches); wait for the runs; then run redfeed_xref (the conference cross-reference);
#   5. report: runs and task states, rows per table, the ledger, rejects, the cross-referenced
#      views, the UI URL and login.
# A second run reuses the stack, the .env and the runs that exist (the backfill only adds the
# missing days). `scripts/demo.sh down` (make down) and `scripts/demo.sh logs` (make logs).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$PWD/.venv/bin/python}
DOCKER=${DOCKER:-/usr/bin/docker}
DAYS=${REDFEED_DEMO_DAYS:-3}
WORKERS=${REDFEED_DEMO_WORKERS:-1}
export REDFEED_ENV_FILE=${REDFEED_ENV_FILE:-$PWD/compose/.env}
compose() { scripts/compose.sh "$@"; }
say() { echo "== $*" >&2; }

env_value() {  # the value of $1 in the env file (the environment wins, as in compose)
  local name=$1
  if [ -n "${!name:-}" ]; then echo "${!name}"; return; fi
  sed -n "s/^$name=//p" "$REDFEED_ENV_FILE" | tail -1
}

project() { env_value COMPOSE_PROJECT_NAME | grep . || echo redfeed; }

case "${1:-up}" in
  logs)
    exec scripts/compose.sh logs -f --tail=100
    ;;
  down)
    if [ ! -f "$REDFEED_ENV_FILE" ]; then
      echo "demo: no $REDFEED_ENV_FILE, nothing to stop" >&2
      exit 0
    fi
    # Task containers that DockerOperator started on the stack's network are not compose's:
    # remove leftovers (a worker killed mid-task), or the network cannot be removed.
    network="$(project)_default"
    for id in $($DOCKER ps -aq --filter "network=$network" 2>/dev/null); do
      if [ -z "$($DOCKER inspect -f '{{index .Config.Labels "com.docker.compose.project"}}' "$id")" ]; then
        $DOCKER rm -f "$id" >/dev/null
      fi
    done
    # Volumes go too: the local S3 keeps the archive in memory, so a warehouse and an Airflow
    # history that outlived it would point at batches that no longer exist.
    exec scripts/compose.sh down -v --remove-orphans
    ;;
  up) ;;
  *)
    echo "usage: $0 [up|down|logs]" >&2
    exit 2
    ;;
esac

started=$SECONDS

# ---------------------------------------------------------------------------- demo data
# Regenerated in place (deterministic): the mirror bind-mounts the data directory itself, which
# must therefore never be replaced (only its contents).
year=$(date -u +%Y)
data=build/demo-data
mkdir -p "$data"
rm -rf "${data:?}"/*
.venv/bin/redfeed sample-data --out "$data" --years "$year,$((year + 1))"
chmod -R a+rX "$data"

# ---------------------------------------------------------------------------- compose/.env
if [ ! -f "$REDFEED_ENV_FILE" ]; then
  say "creating $REDFEED_ENV_FILE with random secrets"
  cp compose/.env.example "$REDFEED_ENV_FILE"
  chmod 600 "$REDFEED_ENV_FILE"
fi
"$PY" - "$REDFEED_ENV_FILE" <<'EOF'
"""Fill the empty secrets (and the Docker socket's group) of an env file, in place."""
import base64
import os
import re
import secrets
import sys

path = sys.argv[1]
socket = os.environ.get("REDFEED_DOCKER_SOCKET", "/var/run/docker.sock")
generators = {
    "REDFEED_AIRFLOW_PASSWORD": lambda: secrets.token_urlsafe(12),
    "REDFEED_POSTGRES_PASSWORD": lambda: secrets.token_hex(16),
    "REDFEED_AIRFLOW_DB_PASSWORD": lambda: secrets.token_hex(16),
    "REDFEED_WAREHOUSE_DB_PASSWORD": lambda: secrets.token_hex(16),
    "REDFEED_REDIS_PASSWORD": lambda: secrets.token_hex(16),
    "REDFEED_AIRFLOW_JWT_SECRET": lambda: secrets.token_urlsafe(32),
    "REDFEED_AIRFLOW_FERNET_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "REDFEED_DOCKER_GID": lambda: str(os.stat(socket).st_gid),
}
lines = open(path, encoding="utf-8").read().splitlines()
present = set()
for i, line in enumerate(lines):
    match = re.fullmatch(r"([A-Z0-9_]+)=(.*)", line)
    if not match:
        continue
    present.add(match.group(1))
    if match.group(1) in generators and not match.group(2).strip():
        lines[i] = f"{match.group(1)}={generators[match.group(1)]()}"
for name in generators.keys() - present:
    lines.append(f"{name}={generators[name]()}")
with open(path, "w", encoding="utf-8") as out:
    out.write("\n".join(lines) + "\n")
EOF

# ---------------------------------------------------------------------------- stack
say "starting the stack (project $(project), $WORKERS Celery worker(s))"
compose up -d --scale airflow-worker="$WORKERS" 2>&1 | grep -vE '^(Creating|Starting|Recreating)|up-to-date$' >&2 || true

wait_healthy() {  # every container healthy (or running without a healthcheck), one-shots exit 0
  local deadline=$((SECONDS + ${1:-300})) pending
  while :; do
    pending=""
    for id in $(compose ps -q); do
      read -r name status health code < <($DOCKER inspect -f \
        '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}' "$id")
      if [ "$status" = exited ]; then
        if [ "$code" != 0 ]; then
          echo "demo: ${name#/} exited with $code:" >&2
          $DOCKER logs --tail 30 "$id" >&2
          return 1
        fi
      elif [ "$health" != healthy ] && [ "$health" != none ]; then
        pending+=" ${name#/}($health)"
      fi
    done
    [ -z "$pending" ] && return 0
    if [ $SECONDS -gt $deadline ]; then
      echo "demo: still not healthy:$pending (scripts/compose.sh logs)" >&2
      return 1
    fi
    sleep 2
  done
}
wait_healthy 300
say "stack healthy after $((SECONDS - started))s"

port=$(compose port airflow-api-server 8080 | sed 's/.*://')
url=http://127.0.0.1:$port
REDFEED_AIRFLOW_USER=$(env_value REDFEED_AIRFLOW_USER | grep . || echo admin)
REDFEED_AIRFLOW_PASSWORD=$(env_value REDFEED_AIRFLOW_PASSWORD)
export REDFEED_AIRFLOW_USER REDFEED_AIRFLOW_PASSWORD

# ---------------------------------------------------------------------------- backfill
rc=0
runs=""
# "backfill <dag>" or "run <dag>" per feed of the registry, latest_only feeds last.
mapfile -t plan < <("$PY" -c '
from redfeed.orchestration.registry import load_registry
for feed in sorted(load_registry("dags/feeds.yaml").feeds, key=lambda f: f.latest_only):
    print("run" if feed.latest_only else "backfill", feed.dag_id)
')
for step in "${plan[@]}"; do
  read -r how dag <<<"$step"
  if [ "$how" = backfill ]; then
    say "backfilling $dag over the last $DAYS days through $url/api/v2"
    out=$("$PY" scripts/airflow_api.py --url "$url" backfill "$dag" --days "$DAYS" \
      --unpause redfeed_replay redfeed_migrate) || rc=$?
  else
    say "running $dag (latest_only: one snapshot of the source as it is now)"
    out=$("$PY" scripts/airflow_api.py --url "$url" run "$dag" --yesterday) || rc=$?
  fi
  runs+="$dag:"$'\n'"$(echo "${out:-(none)}" | sed 's/^/  /')"$'\n'
done
say "cross-referencing the conferences (redfeed_xref)"
out=$("$PY" scripts/airflow_api.py --url "$url" run redfeed_xref) || rc=$?
runs+="redfeed_xref:"$'\n'"$(echo "${out:-(none)}" | sed 's/^/  /')"

# ---------------------------------------------------------------------------- report
psql() { compose exec -T postgres psql -U redfeed -d warehouse -X -q -P footer=off "$@"; }
echo
echo "Runs (logical date, state, duration, run id, tasks):"
echo "${runs:-  (none)}" | sed 's/^/  /'
echo
echo "Rows per table:"
psql -c "SELECT table_name, rows FROM (VALUES
           ('conferences', (SELECT count(*) FROM conferences)),
           ('python_conferences', (SELECT count(*) FROM python_conferences)),
           ('pretalx_events', (SELECT count(*) FROM pretalx_events)),
           ('pretalx_talks', (SELECT count(*) FROM pretalx_talks)),
           ('pretalx_speakers', (SELECT count(*) FROM pretalx_speakers)),
           ('pretalx_talk_speakers', (SELECT count(*) FROM pretalx_talk_speakers)),
           ('homepage_events', (SELECT count(*) FROM homepage_events)),
           ('conference (cross-referenced)', (SELECT count(*) FROM conference)),
           ('conference_members', (SELECT count(*) FROM conference_members)),
           ('redfeed_loads (ledger)', (SELECT count(*) FROM redfeed_loads))
         ) AS t(table_name, rows)" | sed 's/^/  /'
echo "Ledger per feed and table (loads, rows in = loaded + rejected):"
psql -c "SELECT feed, table_name, count(*) FILTER (WHERE status = 'loaded') AS loads,
                sum(rows_in) AS rows_in, sum(rows_loaded) AS loaded,
                sum(rows_rejected) AS rejected
         FROM redfeed_loads GROUP BY 1, 2 ORDER BY 1, 2" | sed 's/^/  /'
echo "Archive (committed batches per feed, records and rejects at extraction):"
for feed in $("$PY" -c '
from redfeed.orchestration.registry import load_registry
print(" ".join(f.name for f in load_registry("dags/feeds.yaml").feeds))
'); do
  echo "  $feed:"
  compose run --rm -T --entrypoint redfeed archive-init archive batches --feed "$feed" 2>/dev/null |
    sed "s/^/    /" || true
done
echo
echo "Conferences seen by several sources (conference):"
psql -c "SELECT conference_id AS id, name, start_date, country, sources
         FROM conference WHERE source_count > 1 ORDER BY start_date LIMIT 12" | sed 's/^/  /'
echo "Upcoming conferences with an open CFP (upcoming_open_cfps):"
psql -c "SELECT name, start_date, cfp_end_date, sources FROM upcoming_open_cfps
         ORDER BY cfp_end_date LIMIT 8" | sed 's/^/  /'
echo "Talks and speakers per conference (conference_talks):"
psql -c "SELECT conference, count(DISTINCT talk_code) AS talks,
                count(DISTINCT speaker_code) AS speakers,
                string_agg(DISTINCT title, '; ') AS titles
         FROM conference_talks GROUP BY 1" | sed 's/^/  /'
echo "Conferences per country and month (conferences_per_country_month, busiest):"
psql -c "SELECT country, to_char(month, 'YYYY-MM') AS month, conferences,
                seen_by_several_sources AS multi_source
         FROM conferences_per_country_month ORDER BY conferences DESC, month LIMIT 8" |
  sed 's/^/  /'
echo "CFP deadlines moved between snapshots (cfp_changes): $(psql -At -c 'SELECT count(*) FROM cfp_changes')"
echo
echo "Airflow UI: $url  (login: $REDFEED_AIRFLOW_USER / $REDFEED_AIRFLOW_PASSWORD, from $REDFEED_ENV_FILE)"
echo "make logs follows the stack; make down stops it and drops its volumes.  ($((SECONDS - started))s)"
exit $rc
