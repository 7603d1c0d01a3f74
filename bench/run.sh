#!/usr/bin/env bash
# routerd against Socket.IO 4.8 on the same workloads, on loopback, with
# routerbench driving both (docs/performance.md explains the figures).
#
#   bench/run.sh           fan-out, unpaced and paced, on both servers
#   bench/run.sh all       also rooms, connect and idle on both servers, and
#                          the machine's floor for paced fan-out and connect
#                          (routerbench floor: plain TCP, no server of ours)
#
# The workload comes from the environment (defaults in brackets):
#   MEMBERS [1000]  PUBLISHERS [10]  MESSAGES [200] per publisher  SIZE [64]
#   PACED_RATE [50] messages/s for the paced run  PACED_MESSAGES [50]
#   TIMEOUT [120s] wait for missing deliveries after the last send
#   CONNS [5000] for connect, IDLE_CONNS [10000] for idle
#   ROUTERD_PORT [18080]  NATS_PORT [14222]  SOCKETIO_PORT [13000]
#   OUT [a new temporary directory]: binaries, server logs, results.jsonl
#
# It builds routerd and routerbench, installs the Socket.IO server's npm
# packages when they are missing (npm ci), starts each server fresh for each
# run (idle needs a fresh process) and stops it afterwards. Every run is
# bounded: by its message count and TIMEOUT, or its connection count.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-compare}
case $mode in compare | all) ;; *)
	echo "usage: bench/run.sh [compare|all]" >&2
	exit 2
	;;
esac

MEMBERS=${MEMBERS:-1000} PUBLISHERS=${PUBLISHERS:-10} MESSAGES=${MESSAGES:-200} SIZE=${SIZE:-64}
PACED_RATE=${PACED_RATE:-50} PACED_MESSAGES=${PACED_MESSAGES:-50} TIMEOUT=${TIMEOUT:-120s}
CONNS=${CONNS:-5000} IDLE_CONNS=${IDLE_CONNS:-10000}
ROUTERD_PORT=${ROUTERD_PORT:-18080} NATS_PORT=${NATS_PORT:-14222} SOCKETIO_PORT=${SOCKETIO_PORT:-13000}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"

echo "== building routerd and routerbench into $OUT"
go build -o "$OUT/routerd" ./cmd/routerd
go build -o "$OUT/routerbench" ./cmd/routerbench
if [ ! -d bench/socketio/node_modules/socket.io ]; then
	echo "== npm ci (bench/socketio)"
	(cd bench/socketio && npm ci --no-audit --no-fund)
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
	"$(free -g | awk '/^Mem:/ {print $2}') GiB; go $(go env GOVERSION), node $(node --version)"

server_pid=""
stop_server() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}
trap stop_server EXIT

# port_free PORT: fails when something already listens there (another
# server would answer the benchmark instead of ours).
port_free() {
	if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
		echo "127.0.0.1:$1 is in use: set ROUTERD_PORT, NATS_PORT or SOCKETIO_PORT" >&2
		return 1
	fi
}

# wait_http URL: waits until our server (server_pid) answers at URL.
wait_http() {
	for _ in $(seq 100); do
		kill -0 "$server_pid" 2>/dev/null || { echo "the server exited; see $OUT/*.log" >&2; return 1; }
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "server not up at $1" >&2
	return 1
}

start_routerd() {
	port_free "$ROUTERD_PORT"
	port_free "$NATS_PORT"
	"$OUT/routerd" -c bench/routerd.yaml \
		--http.listen "127.0.0.1:$ROUTERD_PORT" --nats.listen "127.0.0.1:$NATS_PORT" >>"$OUT/routerd.log" 2>&1 &
	server_pid=$!
	wait_http "http://127.0.0.1:$ROUTERD_PORT/readyz"
}

start_socketio() {
	port_free "$SOCKETIO_PORT"
	PORT=$SOCKETIO_PORT node bench/socketio/server.js >>"$OUT/socketio.log" 2>&1 &
	server_pid=$!
	wait_http "http://127.0.0.1:$SOCKETIO_PORT/metrics"
}

# bench SERVER SCENARIO [routerbench flags...]: one run against a fresh server.
bench() {
	local server=$1 scenario=$2
	shift 2
	local target
	if [ "$server" = routerd ]; then
		start_routerd
		target=(-url "ws://127.0.0.1:$ROUTERD_PORT/ws")
	else
		start_socketio
		target=(-proto socketio -url "ws://127.0.0.1:$SOCKETIO_PORT/socket.io/?EIO=4&transport=websocket")
	fi
	echo
	echo "== $scenario on $server: $*"
	"$OUT/routerbench" "$scenario" "${target[@]}" -out "$OUT/results.jsonl" "$@" || echo "(routerbench failed: exit $?)"
	stop_server
}

fanout=(-members "$MEMBERS" -publishers "$PUBLISHERS" -size "$SIZE" -timeout "$TIMEOUT")
for server in routerd socketio; do
	bench "$server" fanout "${fanout[@]}" -messages "$MESSAGES"
	bench "$server" fanout "${fanout[@]}" -messages "$PACED_MESSAGES" -rate "$PACED_RATE"
done
if [ "$mode" = all ]; then
	for server in routerd socketio; do
		bench "$server" rooms -rooms 100 -per-room 10 -publishers 1 -messages 1000 -size "$SIZE" -timeout "$TIMEOUT"
		bench "$server" connect -conns "$CONNS" -concurrency 50
		bench "$server" idle -conns "$IDLE_CONNS"
	done
	echo
	echo "== floor: paced fan-out and connect over plain TCP (routerbench floor)"
	"$OUT/routerbench" floor -members "$MEMBERS" -messages $((PUBLISHERS * PACED_MESSAGES)) -rate "$PACED_RATE" \
		-out "$OUT/results.jsonl" || echo "(routerbench failed: exit $?)"
	"$OUT/routerbench" floor -workload connect -conns "$CONNS" -concurrency 50 \
		-out "$OUT/results.jsonl" || echo "(routerbench failed: exit $?)"
fi
echo
echo "== results (one JSON object per run): $OUT/results.jsonl"
