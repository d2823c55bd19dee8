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
exec "${COMPOSE[@]}" --env-file "$env_file" -f compose/docker-compose.yml "$@"
