#!/usr/bin/env bash
# services.sh: install (when missing) and run the real services fanout's tests
# and local stack use, on loopback only.
#
#   scripts/services.sh up      install what is missing, start MinIO and Redis,
#                               wait until healthy, print export lines
#   scripts/services.sh down    stop exactly what `up` started
#   scripts/services.sh env     print the export lines of the running services
#   scripts/services.sh status  say what is running
#   scripts/services.sh cluster-up    install redis-server when missing, start a
#                               3-master Redis Cluster (no replicas) on loopback,
#                               print the export line of its redis+cluster:// URL
#   scripts/services.sh cluster-down  stop exactly what `cluster-up` started
#
# Use it as:  eval "$(scripts/services.sh up)"
#
# Everything lives under .services/ (state, data, logs) and .cache/ (the
# MinIO binary), both git-ignored. Ports: FANOUT_MINIO_PORT (19000),
# FANOUT_REDIS_PORT (16379), FANOUT_REDIS_CLUSTER_PORT (17001: the cluster's
# nodes take it and the next two, their bus ports those plus 100). The MinIO binary is built once with `go install`
# of a pinned version and reused; a copy is kept in ~/.cache/fanout so that
# fresh clones on the same machine skip the 5-minute build.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="$root/.services"
cache="${FANOUT_CACHE_DIR:-$root/.cache}"
shared_cache="${XDG_CACHE_HOME:-$HOME/.cache}/fanout"

MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
minio_bin="$cache/bin/minio-$MINIO_VERSION"
minio_port="${FANOUT_MINIO_PORT:-19000}"
minio_console_port=$((minio_port + 1))
redis_port="${FANOUT_REDIS_PORT:-16379}"
cluster_port="${FANOUT_REDIS_CLUSTER_PORT:-17001}"
cluster_ports=("$cluster_port" $((cluster_port + 1)) $((cluster_port + 2)))
minio_user="fanoutadmin"
minio_password="fanout-secret-key"
region="us-east-1"

log() { echo "services: $*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

install_redis() {
	command -v redis-server >/dev/null && return 0
	log "installing redis-server from Debian's packages"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >&2
	# The package may start a system-wide server; fanout runs its own.
	$sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
}

install_minio() {
	if [ -x "$minio_bin" ]; then
		keep_shared_copy
		return 0
	fi
	mkdir -p "$cache/bin"
	if [ -x "$shared_cache/minio-$MINIO_VERSION" ]; then
		log "reusing cached MinIO binary from $shared_cache"
		cp "$shared_cache/minio-$MINIO_VERSION" "$minio_bin.tmp" && mv "$minio_bin.tmp" "$minio_bin"
		return 0
	fi
	log "building MinIO $MINIO_VERSION with go install (about 5 minutes on 2 cores, once)"
	local gobin
	gobin=$(mktemp -d)
	local go=go
	command -v go >/dev/null || go=/usr/local/go/bin/go
	(cd "$gobin" && GOBIN="$gobin" GOFLAGS=-mod=mod "$go" install "github.com/minio/minio@$MINIO_VERSION") >&2
	mv "$gobin/minio" "$minio_bin"
	rmdir "$gobin" 2>/dev/null || true
	keep_shared_copy
}

keep_shared_copy() {
	[ -x "$shared_cache/minio-$MINIO_VERSION" ] && return 0
	{ mkdir -p "$shared_cache" && cp "$minio_bin" "$shared_cache/minio-$MINIO_VERSION.tmp" &&
		mv "$shared_cache/minio-$MINIO_VERSION.tmp" "$shared_cache/minio-$MINIO_VERSION"; } 2>/dev/null || true
}

wait_for() { # name, command...
	local name=$1
	shift
	for _ in $(seq 1 150); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	log "$name did not become healthy; see $state/*.log"
	return 1
}

minio_healthy() { curl -fsS "http://127.0.0.1:$minio_port/minio/health/live"; }
redis_healthy() { redis-cli -h 127.0.0.1 -p "$redis_port" ping | grep -q PONG; }

start_minio() {
	if alive "$state/minio.pid"; then return 0; fi
	if port_busy "$minio_port"; then
		log "port $minio_port is taken by another process; set FANOUT_MINIO_PORT"
		return 1
	fi
	mkdir -p "$state/minio-data"
	MINIO_ROOT_USER="$minio_user" MINIO_ROOT_PASSWORD="$minio_password" MINIO_BROWSER=off \
		MINIO_UPDATE=off MINIO_CALLHOME_ENABLE=off \
		nohup "$minio_bin" server "$state/minio-data" --quiet \
		--address "127.0.0.1:$minio_port" --console-address "127.0.0.1:$minio_console_port" \
		>"$state/minio.log" 2>&1 &
	echo $! >"$state/minio.pid"
	wait_for minio minio_healthy
}

start_redis() {
	if alive "$state/redis.pid"; then return 0; fi
	if port_busy "$redis_port"; then
		log "port $redis_port is taken by another process; set FANOUT_REDIS_PORT"
		return 1
	fi
	redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
		--daemonize yes --pidfile "$state/redis.pid" --logfile "$state/redis.log" \
		--dir "$state" >&2
	wait_for redis redis_healthy
}

cluster_ok() { redis-cli -h 127.0.0.1 -p "$1" cluster info | grep -q cluster_state:ok; }

cluster_url() {
	local hosts=""
	for p in "${cluster_ports[@]}"; do hosts="$hosts,127.0.0.1:$p"; done
	echo "redis+cluster://${hosts#,}"
}

# start_cluster starts three cluster-enabled masters and joins them with
# redis-cli --cluster create, once: a restarted node keeps its slots from its
# nodes.conf.
start_cluster() {
	local created=1
	for p in "${cluster_ports[@]}"; do
		local dir="$state/cluster-$p"
		[ -f "$dir/nodes.conf" ] || created=0
		alive "$dir/redis.pid" && continue
		if port_busy "$p"; then
			log "port $p is taken by another process; set FANOUT_REDIS_CLUSTER_PORT"
			return 1
		fi
		mkdir -p "$dir"
		redis-server --bind 127.0.0.1 --port "$p" --cluster-enabled yes \
			--cluster-config-file nodes.conf --cluster-port $((p + 100)) \
			--save "" --appendonly no --daemonize yes --pidfile "$dir/redis.pid" \
			--logfile "$dir/redis.log" --dir "$dir" >&2
		wait_for "redis cluster node $p" redis-cli -h 127.0.0.1 -p "$p" ping
	done
	if [ "$created" = 0 ]; then
		local addrs=()
		for p in "${cluster_ports[@]}"; do addrs+=("127.0.0.1:$p"); done
		redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >&2
	fi
	for p in "${cluster_ports[@]}"; do wait_for "redis cluster node $p" cluster_ok "$p"; done
}

stop_cluster() {
	for p in "${cluster_ports[@]}"; do
		local dir="$state/cluster-$p"
		if alive "$dir/redis.pid"; then
			local pid
			pid=$(cat "$dir/redis.pid")
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$pid" 2>/dev/null || true
			log "stopped redis cluster node $p (pid $pid)"
		fi
		rm -rf "$dir"
	done
}

print_env() {
	cat <<EOF
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$minio_port
export AWS_ACCESS_KEY_ID=$minio_user
export AWS_SECRET_ACCESS_KEY=$minio_password
export AWS_REGION=$region
export FANOUT_REDIS_URL=redis://127.0.0.1:$redis_port/0
EOF
}

stop_one() { # name
	local pidfile="$state/$1.pid"
	if alive "$pidfile"; then
		local pid
		pid=$(cat "$pidfile")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		log "stopped $1 (pid $pid)"
	fi
	rm -f "$pidfile"
}

case "${1:-}" in
up)
	mkdir -p "$state"
	install_redis
	install_minio
	start_minio
	start_redis
	print_env >"$state/env"
	print_env
	log "MinIO on 127.0.0.1:$minio_port, Redis on 127.0.0.1:$redis_port"
	;;
down)
	stop_one minio
	stop_one redis
	rm -f "$state/env"
	rm -rf "$state/minio-data"
	;;
env)
	print_env
	;;
status)
	alive "$state/minio.pid" && echo "minio running (pid $(cat "$state/minio.pid"))" || echo "minio stopped"
	alive "$state/redis.pid" && echo "redis running (pid $(cat "$state/redis.pid"))" || echo "redis stopped"
	;;
cluster-up)
	mkdir -p "$state"
	install_redis
	start_cluster
	echo "export FANOUT_REDIS_URL=$(cluster_url)"
	log "Redis Cluster of 3 masters on 127.0.0.1:${cluster_ports[*]}"
	;;
cluster-down)
	stop_cluster
	;;
*)
	echo "usage: $0 up|down|env|status|cluster-up|cluster-down" >&2
	exit 2
	;;
esac
