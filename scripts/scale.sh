#!/usr/bin/env bash
# scale.sh: the scale simulation (scripts/scale): fanout's real planner,
# Redis queue, worker loop and committer with N simulated workers (each a
# goroutine with its own Engine and Redis client) against a simulated S3
# (objstore/simstore: latency, 3,500 PUT / 5,500 GET per second per prefix
# partition answered with SlowDown, partitions that split). Uses the local
# stack's Redis (scripts/services.sh up starts it); prints wall time per
# phase, chunks/s, Redis round trips and S3 requests per chunk, SlowDowns,
# the hottest partition and peak memory, then the oracle's verdict.
#
#   scripts/scale.sh                                  10,000 chunks x 100 workers
#   scripts/scale.sh -chunks 1000000 -workers 1000    by hand (see docs/scale.md)
#   scripts/scale.sh -help                            every option
#
# A small run of the same program is a test (TestScaleSimulation), so
# scripts/test.sh covers it; docs/scale.md has the model and the numbers.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"
if [ -z "${FANOUT_REDIS_URL:-}" ]; then
	eval "$(scripts/services.sh env)"
fi
mkdir -p bin
go build -o bin/fanout-scale ./scripts/scale
exec bin/fanout-scale "$@"
