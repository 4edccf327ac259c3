#!/usr/bin/env bash
# chaos.sh: run a job of several hundred chunks with several `fanout work`
# processes on a private Redis and a private MinIO (their own ports and
# data, so nothing else is disturbed) while killing, stopping and
# restarting workers, the driver, Redis and MinIO at random; then check the
# committed result exactly (every record once, one marker per chunk,
# nothing left in staging). The test is TestChaos in cmd/fanout/cli.
#
#   scripts/chaos.sh [-t seconds] [-c chunks] [-w workers] [-s seed] [-j job]
#
#   -t  how long faults are injected (default 45; the job may commit first)
#   -c  chunks of the job (default 300)
#   -w  worker processes kept alive (default 4)
#   -s  seed of the fault schedule (default: the clock; printed, so that a
#       failing run can be replayed)
#   -j  the job: map (map-only exec), aggregate (a group-by through the
#       reduce stage), compact (a partitioned convert with a small
#       --target-file-size, so its compaction stage runs through the
#       faults) or all, one after the other (default all; -t is each one's)
#
# It needs redis-server and the MinIO binary that scripts/services.sh
# installs (run that once); scripts/test.sh runs a short chaos run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"

export FANOUT_CHAOS=1
while getopts "t:c:w:s:j:" opt; do
	case "$opt" in
	t) export FANOUT_CHAOS_SECONDS="$OPTARG" ;;
	c) export FANOUT_CHAOS_CHUNKS="$OPTARG" ;;
	w) export FANOUT_CHAOS_WORKERS="$OPTARG" ;;
	s) export FANOUT_CHAOS_SEED="$OPTARG" ;;
	j) export FANOUT_CHAOS_JOB="$OPTARG" ;;
	*) sed -n '2,22p' "$0" >&2; exit 2 ;;
	esac
done
# A missing redis-server or MinIO binary is a failure here, not a skip.
export FANOUT_REQUIRE_SERVICES=1
go test -count=1 -timeout 30m -run '^TestChaos$' -v ./cmd/fanout/cli/ 2>&1 | grep -v '^=== ' | grep -E -v '^\s*$'
