#!/bin/sh
# Paced health check: every service's healthcheck runs its check through this script.
#
#   healthcheck.sh PACE LIMIT CHECK [ARG...]
#     PACE   whole seconds a healthy service waits before it checks again (0-60)
#     LIMIT  whole seconds the check may take before it counts as failed (1-29)
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
# Docker's own probe timeout (90 s in the compose file) must exceed PACE + LIMIT: at most 89 s.
# REDFEED_HEALTHCHECK_MARK exists for the tests.
set -u
usage='usage: healthcheck.sh PACE LIMIT CHECK [ARG...]'
pace=${1:?$usage}
limit=${2:?$usage}
shift 2
if [ "$#" = 0 ]; then echo "healthcheck: no check given ($usage)"; exit 2; fi
for value in "$pace" "$limit"; do
  case $value in
    '' | *[!0-9]*) echo "healthcheck: PACE and LIMIT are whole seconds, not '$value'"; exit 2 ;;
  esac
done
if [ "$pace" -gt 60 ]; then
  echo "healthcheck: PACE $pace s is over 60 s (the probe's timeout is 90 s)"
  exit 2
fi
if [ "$limit" -lt 1 ] || [ "$limit" -gt 29 ]; then
  echo "healthcheck: LIMIT $limit s is not within 1-29 s (the probe's timeout is 90 s)"
  exit 2
fi
mark=${REDFEED_HEALTHCHECK_MARK:-/dev/shm/redfeed-healthy}
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
case $code in
  124) echo "healthcheck: $1 gave no answer within $limit s" ;;
  125 | 126 | 127) echo "healthcheck: $1 could not run (exit $code)" ;;
  *) echo "healthcheck: $1 exited $code" ;;
esac
exit 1
