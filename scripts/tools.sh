#!/usr/bin/env bash
# tools.sh: install the test-only tools: Debian's bzip2 (Go's
# compress/bzip2 only decompresses; the codec tests compress with it),
# chromium and python3 (oracles), and into .cache/ (git-ignored; or
# $FANOUT_CACHE_DIR) AWS's Lambda Runtime Interface Emulator (the examples
# run their own Lambda bootstrap under it) and DuckDB's Node.js binding,
# used as an independent oracle that reads the Parquet output. Safe to run
# repeatedly.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# apt_tool CMD PKG: install Debian's PKG when CMD is missing.
apt_tool() {
	command -v "$1" >/dev/null && return 0
	echo "tools: installing Debian's $2" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2 ||
		{ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2; }
}
apt_tool bzip2 bzip2
# Debian's chromium renders fanout profile's HTML report in
# cmd/fanout/cli/profile_test.go (TestProfileReportInChromium) and drives
# fanout ui's dashboard in cmd/fanout/cli/ui_test.go (TestDashboardInChromium),
# both through localstack/browsertest.
apt_tool chromium chromium
# Python's csv module is the oracle of fanout/csv_options_test.go.
apt_tool python3 python3
# scripts/package-lambda.sh zips the bootstrap (zip, unzip -l);
# cmd/fanout-lambda/lambdaapp's TestExecProgramShippedInTheZip runs it.
apt_tool zip zip
apt_tool unzip unzip
# AWS's Lambda Runtime Interface Emulator, built from the Go module proxy
# (about a minute), as localstack.RIEBinary finds it:
# .cache/bin/aws-lambda-rie-$RIE_VERSION. examples/accesslog/rie_test.go
# runs the example's own bootstrap under it.
RIE_VERSION="v0.0.0-20261030222936-bef5c4ba774d"
rie_bin="${FANOUT_CACHE_DIR:-$root/.cache}/bin/aws-lambda-rie-$RIE_VERSION"
if [ ! -x "$rie_bin" ]; then
	echo "tools: building aws-lambda-rie@$RIE_VERSION" >&2
	go=go
	command -v go >/dev/null || go=/usr/local/go/bin/go
	gobin=$(mktemp -d)
	(cd "$gobin" && GOBIN="$gobin" GOFLAGS=-mod=mod "$go" install \
		"github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$RIE_VERSION") >&2
	mkdir -p "$(dirname "$rie_bin")"
	mv "$gobin/aws-lambda-rie" "$rie_bin.tmp" && mv "$rie_bin.tmp" "$rie_bin"
	rm -rf "$gobin"
fi
DUCKDB_VERSION="1.5.6-r.1"
dir="$root/.cache/duckdb"
if [ -f "$dir/node_modules/@duckdb/node-api/package.json" ] &&
	grep -q "\"version\": \"$DUCKDB_VERSION\"" "$dir/node_modules/@duckdb/node-api/package.json"; then
	exit 0
fi
if ! command -v npm >/dev/null; then
	echo "tools: npm is missing; installing Debian's nodejs and npm" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
fi
mkdir -p "$dir"
echo "tools: installing @duckdb/node-api@$DUCKDB_VERSION" >&2
(cd "$dir" && [ -f package.json ] || echo '{"name":"fanout-test-tools","private":true}' >"$dir/package.json")
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "@duckdb/node-api@$DUCKDB_VERSION" >&2
