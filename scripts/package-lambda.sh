#!/usr/bin/env bash
# package-lambda.sh: build fanout's Lambda function (cmd/fanout-lambda) as a
# provided.al2023 bootstrap for arm64 and amd64 and zip each, ready for
# localstack/template.yaml (CodeUri) or `aws lambda update-function-code`.
#
#   scripts/package-lambda.sh [arm64|amd64]...   (default: both)
#
# Output: dist/fanout-lambda-<arch>.zip holding one executable, bootstrap.
# Built with CGO_ENABLED=0, -tags lambda.norpc (no net/rpc in the binary),
# -trimpath and stripped symbols; the build is reproducible (zip entries get a
# fixed time).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"

archs=("$@")
if [ ${#archs[@]} -eq 0 ]; then archs=(arm64 amd64); fi
mkdir -p dist
for arch in "${archs[@]}"; do
	case "$arch" in
	arm64 | amd64) ;;
	*) echo "package-lambda: unknown architecture $arch (want arm64 or amd64)" >&2; exit 2 ;;
	esac
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -tags lambda.norpc -trimpath -ldflags="-s -w -buildid=" \
		-o "$work/bootstrap" ./cmd/fanout-lambda
	chmod 0755 "$work/bootstrap"
	touch -t 198001010000 "$work/bootstrap"
	zip_path="$root/dist/fanout-lambda-$arch.zip"
	rm -f "$zip_path"
	(cd "$work" && zip -q -X "$zip_path" bootstrap)
	rm -rf "$work"
	trap - EXIT
	echo "package-lambda: dist/fanout-lambda-$arch.zip ($(du -h "$zip_path" | cut -f1), bootstrap $(unzip -l "$zip_path" | awk '/bootstrap/ {print $1}') bytes)" >&2
done
