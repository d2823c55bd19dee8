#!/bin/sh
# Paced health check: every service's healthcheck runs its check through this script.
#
#   healthcheck.sh PACE CHECK [ARG...]      (PACE: whole seconds, 0-60)
#
# Docker probes at one fixed interval. A short one gets a starting stack healthy soon, but then
# probes every few seconds for as long as the stack runs: on this stack that was about 13 CPU
# seconds a minute of an idle stack's 19 (each probe is a runc exec plus a process, 0.03 to 0.5 s
# of CPU; BENCHMARKS.md). Engines from 25 on have `start_interval` for this; 20.10 (Debian 12)
# has not. So the compose file probes every few seconds, and once a check has passed the next
# probe first sleeps PACE seconds (idle) before it checks again: fast until healthy, then about
# one check per PACE + interval seconds. A failed check clears the mark, so a service that
# stopped answering is probed at the short interval again until it recovers or turns unhealthy.
# The mark lives in /dev/shm, which every container has fresh (and writable) from each start.
# Docker's own probe timeout must exceed PACE plus the check's 20 s limit (the compose file
# sets 90 s). REDFEED_HEALTHCHECK_MARK and REDFEED_HEALTHCHECK_LIMIT exist for the tests.
set -u
pace=${1:?usage: healthcheck.sh PACE CHECK [ARG...]}
shift
case $pace in
  '' | *[!0-9]*) echo "healthcheck: PACE must be whole seconds, not '$pace'"; exit 2 ;;
esac
if [ "$pace" -gt 60 ]; then
  echo "healthcheck: PACE $pace s is over 60 s (the probe's timeout is 90 s)"
  exit 2
fi
mark=${REDFEED_HEALTHCHECK_MARK:-/dev/shm/redfeed-healthy}
limit=${REDFEED_HEALTHCHECK_LIMIT:-20}
if [ -e "$mark" ]; then
  sleep "$pace"
fi
timeout "$limit" "$@"
code=$?
if [ "$code" = 0 ]; then
  : >"$mark" 2>/dev/null || true
  exit 0
fi
rm -f "$mark"
if [ "$code" = 124 ]; then echo "healthcheck: $1 gave no answer within $limit s"; fi
exit 1
