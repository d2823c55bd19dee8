#!/usr/bin/env bash
# Make sure a Docker engine (with BuildKit client, mmdebstrap and docker-compose) is installed and
# running. Idempotent: a running engine is left alone; stale pid files from a killed session are
# cleared first.
set -euo pipefail

need=()
# An engine and compose installed another way (docker-ce and its compose plugin, as on GitHub's
# runners) are used as they are: Debian's docker.io would conflict with them.
[ -x /usr/sbin/dockerd ] || command -v dockerd >/dev/null || need+=(docker.io)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v docker-compose >/dev/null || /usr/bin/docker compose version >/dev/null 2>&1 \
  || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  echo "engine: apt-get install ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# Debian's client has BuildKit built in; /usr/local/bin/docker (if any) lacks buildx.
DOCKER=/usr/bin/docker
if $DOCKER info >/dev/null 2>&1; then
  exit 0
fi

for pidfile in /var/run/docker.pid /run/docker/containerd/containerd.pid; do
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    rm -f "$pidfile"
  fi
done
if [ -S /run/docker/containerd/containerd.sock ] && ! pgrep -x containerd >/dev/null; then
  rm -f /run/docker/containerd/containerd.sock
fi

echo "engine: starting dockerd" >&2
setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &
for _ in $(seq 60); do
  if $DOCKER info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "engine: dockerd did not come up; see /var/log/dockerd.log" >&2
tail -20 /var/log/dockerd.log >&2 || true
exit 1
