#!/usr/bin/env bash
# package-lambda.sh: build fanout's Lambda function (cmd/fanout-lambda), or
# your own bootstrap (a main over lambdaapp.Start), as a provided.al2023
# bootstrap for arm64 and amd64 and zip each, ready for
# localstack/template.yaml (CodeUri) or `aws lambda update-function-code`.
#
#   scripts/package-lambda.sh [--main PKG] [--name NAME] [--include DIR]... [--out DIR] [arm64|amd64]...
#
#   --main PKG     the main package to build, built from the directory the
#                  script is called in (so a module of your own builds:
#                  cd your-module && path/to/fanout/scripts/package-lambda.sh
#                  --main ./cmd/lambda); default fanout's ./cmd/fanout-lambda
#   --name NAME    the zip's name: NAME-<arch>.zip (default fanout-lambda)
#   --include DIR  add DIR's files to the zip beside bootstrap (they land in
#                  /var/task, the function's working directory: programs that
#                  exec runs, with their data); repeatable
#   --out DIR      where the zips go (default: fanout's dist/)
#
# Paths are relative to the directory the script is called in. Output:
# DIR/NAME-<arch>.zip holding the executable bootstrap (and the included
# files, modes kept). Built with CGO_ENABLED=0, -tags lambda.norpc (no
# net/rpc in the binary), -trimpath and stripped symbols; the build is
# reproducible (zip entries get a fixed time).
set -euo pipefail
caller=$(pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"

main=./cmd/fanout-lambda
main_dir=$root # where go build runs
name=fanout-lambda
out="$root/dist"
includes=()
archs=()
while [ $# -gt 0 ]; do
	case "$1" in
	--main) main=$2; main_dir=$caller; shift 2 ;;
	--name) name=$2; shift 2 ;;
	--include)
		[ -d "$2" ] || { echo "package-lambda: --include $2: not a directory" >&2; exit 2; }
		includes+=("$(cd "$2" && pwd)"); shift 2 ;;
	--out) mkdir -p "$2"; out=$(cd "$2" && pwd); shift 2 ;;
	*) archs+=("$1"); shift ;;
	esac
done
cd "$root"
if [ ${#archs[@]} -eq 0 ]; then archs=(arm64 amd64); fi
mkdir -p "$out"
for arch in "${archs[@]}"; do
	case "$arch" in
	arm64 | amd64) ;;
	*) echo "package-lambda: unknown architecture $arch (want arm64 or amd64)" >&2; exit 2 ;;
	esac
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	for dir in ${includes[@]+"${includes[@]}"}; do
		cp -R "$dir"/. "$work"/
	done
	(cd "$main_dir" && CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -tags lambda.norpc -trimpath -ldflags="-s -w -buildid=" \
		-o "$work/bootstrap" "$main")
	chmod 0755 "$work/bootstrap"
	find "$work" -exec touch -h -t 198001010000 {} +
	zip_path="$out/$name-$arch.zip"
	rm -f "$zip_path"
	(cd "$work" && find . -mindepth 1 | LC_ALL=C sort | sed 's#^\./##' | zip -q -X -@ "$zip_path")
	rm -rf "$work"
	trap - EXIT
	echo "package-lambda: $zip_path ($(du -h "$zip_path" | cut -f1), bootstrap $(unzip -l "$zip_path" | awk '$4 == "bootstrap" {print $1}') bytes)" >&2
done
