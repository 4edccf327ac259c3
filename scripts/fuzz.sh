#!/usr/bin/env bash
# fuzz.sh: run every fuzz target of the module briefly (the seed corpora in
# testdata/fuzz run with every plain `go test`; this explores beyond them).
# A failure leaves the crashing input under the package's
# testdata/fuzz/<Target>/ for `go test -run <Target>/<file>` to replay; keep
# it there as a regression seed once fixed.
#
#   scripts/fuzz.sh [fuzztime]     per target; default $FANOUT_FUZZTIME or 5s
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"
fuzztime=${1:-${FANOUT_FUZZTIME:-5s}}

start=$(date +%s)
targets=0
# Packages with fuzz targets, found by listing, so that new targets join.
for pkg in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
	for name in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz.sh: $pkg $name for $fuzztime" >&2
		# -parallel 2: the machines this runs on have 2 cores and other work.
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 2 "$pkg" >&2
		targets=$((targets + 1))
	done
done
echo "fuzz.sh: $targets targets in $(( $(date +%s) - start ))s" >&2
