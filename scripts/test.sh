#!/usr/bin/env bash
# test.sh: the one test command. Brings up the real services (MinIO, Redis)
# on loopback, installs the test tools (DuckDB from npm), runs go vet and
# every test with FANOUT_REQUIRE_SERVICES=1 (a test that needs a service
# fails instead of skipping), then stops the services it started.
#
#   scripts/test.sh [go test flags/packages]   (default: ./...)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"

start=$(date +%s)
already_running=0
status=$(scripts/services.sh status)
case "$status" in *"minio running"*) already_running=1 ;; esac
eval "$(scripts/services.sh up)"
if [ "$already_running" = 0 ]; then
	trap 'scripts/services.sh down' EXIT
fi
scripts/tools.sh >&2
export FANOUT_DUCKDB_DIR="$root/.cache/duckdb"
export FANOUT_REQUIRE_SERVICES=1
echo "test.sh: services ready after $(( $(date +%s) - start ))s" >&2

go vet ./...
full=0
if [ $# -eq 0 ]; then full=1; set -- ./...; fi
go test -count=1 -timeout 75m "$@"
if [ "$full" = 1 ]; then
	scripts/fuzz.sh       # every fuzz target for a few seconds (~1.5 min)
	scripts/chaos.sh -t 45 # a short chaos run (~2 min: map, aggregate and compact jobs)
fi
echo "test.sh: done in $(( $(date +%s) - start ))s" >&2
