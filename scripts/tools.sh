#!/usr/bin/env bash
# tools.sh: install the test-only tools: Debian's bzip2 (Go's
# compress/bzip2 only decompresses; the codec tests compress with it), and
# into .cache/ (git-ignored) DuckDB's Node.js binding, used as an
# independent oracle that reads the Parquet output. Safe to run repeatedly.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! command -v bzip2 >/dev/null; then
	echo "tools: installing Debian's bzip2" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bzip2 >&2 ||
		{ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bzip2 >&2; }
fi
# Debian's chromium renders fanout profile's HTML report in
# cmd/fanout/profile_test.go (TestProfileReportInChromium).
if ! command -v chromium >/dev/null; then
	echo "tools: installing Debian's chromium" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2 ||
		{ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2; }
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
