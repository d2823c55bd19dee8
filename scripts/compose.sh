#!/usr/bin/env bash
# docker-compose for the local stack, with its compose file and env file:
#   scripts/compose.sh ps | logs -f | exec postgres psql ... | down -v
# Env file: $REDFEED_ENV_FILE (absolute path) or compose/.env. The project name comes from
# COMPOSE_PROJECT_NAME (environment, else the env file, else "redfeed"); never pass -p, the
# workers derive the task network's name from it. REDFEED_DOCKER_GID defaults to the group of
# the Docker socket.
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
env_file=${REDFEED_ENV_FILE:-$PWD/compose/.env}
if [ ! -f "$env_file" ]; then
  echo "compose: $env_file does not exist (make demo creates compose/.env from compose/.env.example)" >&2
  exit 78
fi
socket=${REDFEED_DOCKER_SOCKET:-/var/run/docker.sock}
if [ -z "${REDFEED_DOCKER_GID:-}" ] && [ -S "$socket" ]; then
  REDFEED_DOCKER_GID=$(stat -c %g "$socket")
  export REDFEED_DOCKER_GID
fi
compose=("${COMPOSE[@]}" --env-file "$env_file" -f compose/docker-compose.yml)
is_up=false
for arg in "$@"; do if [ "$arg" = up ]; then is_up=true; fi; done
if ! $is_up; then exec "${compose[@]}" "$@"; fi
# A random host port (port 0) comes from the kernel's ephemeral range, which the host's own
# outgoing connections share; Docker 20.10 does not retry when the port it picked turns out to
# be taken ("bind: address already in use"). Running `up` again picks the next port.
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
for attempt in 1 2 3 4; do
  code=0
  "${compose[@]}" "$@" 2>"$errors" || code=$?
  cat "$errors" >&2
  if [ "$code" = 0 ]; then exit 0; fi
  if ! grep -q 'address already in use' "$errors"; then exit "$code"; fi
  echo "compose: a host port was taken while starting (attempt $attempt); running up again" >&2
  sleep 1
done
exit "$code"
