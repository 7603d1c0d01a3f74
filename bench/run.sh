#!/usr/bin/env bash
# routerd side by side with its peers on the same workloads, on loopback,
# with routerbench driving them all (docs/performance.md explains the
# figures). The servers (SERVERS, all by default):
#   routerd      routerd's native protocol (bench/routerd.yaml)
#   routerd-sio  routerd's Socket.IO endpoint (the same routerd)
#   socketio     Socket.IO 4.8 on Node (bench/socketio/server.js)
#   centrifugo   Centrifugo 6.9.1 (bench/centrifugo/config.yaml)
#
#   bench/run.sh           fan-out, unpaced and paced, on every server
#   bench/run.sh all       also rooms, connect and idle on every server, and
#                          the machine's floor for paced fan-out and connect
#                          (routerbench floor: plain TCP, no server of ours)
#   bench/run.sh idle100k  IDLE100K_CONNS [100000] connections held on one
#                          routerd, then BROADCASTS [3] namespace broadcasts
#                          from NATS to all of them (both processes need a
#                          file per connection: it raises ulimit -n, which
#                          takes root with CAP_SYS_RESOURCE past the hard limit)
#
# The workload comes from the environment (defaults in brackets):
#   MEMBERS [1000]  PUBLISHERS [10]  MESSAGES [200] per publisher  SIZE [64]
#   PACED_RATE [50] messages/s for the paced run  PACED_MESSAGES [50]
#   TIMEOUT [120s] wait for missing deliveries after the last send
#   CONNS [5000] for connect, CONCURRENCY [32] of them dialled at once,
#   IDLE_CONNS [10000] for idle
#   RUNS [1] runs of each workload on each server, PACED_RUNS [RUNS] of the
#   paced one; a round runs the workload once on every server in turn
#   SERVERS ["routerd routerd-sio socketio centrifugo"]
#   ROUTERD_PORT [18080]  NATS_PORT [14222]  SOCKETIO_PORT [13000]
#   CENTRIFUGO_PORT [18000]
#   CENTRIFUGO [centrifugo on PATH, else in $(go env GOBIN) or GOPATH/bin]
#   LOCK [none]: a file each run holds flock(1) on, so that runs of
#   several benchmarking sessions never overlap (LOCK=/tmp/bench.lock)
#   QUIET_WAIT [120] seconds to wait before each run for the machine to
#   be quiet (other processes using under QUIET_CORES [0.1] of a core over
#   2 s); 0 does not wait. A run that waited in vain says so.
#   OUT [a new temporary directory]: binaries, server logs, results.jsonl,
#   runs/WORKLOAD.SERVER.jsonl
#
# It builds routerd and routerbench, installs the Socket.IO server's npm
# packages when they are missing (npm ci) and Centrifugo when it is missing
# (go install github.com/centrifugal/centrifugo/v6@v6.9.1; never when CI is
# set: then Centrifugo is left out), starts each server fresh for each run
# (idle needs a fresh process; routerd gets an empty JetStream directory)
# and stops it afterwards. Every run is bounded: by its message count and
# TIMEOUT, or its connection count. At the end it prints every workload's
# figures side by side, median [min-max] over the runs, with the ratios
# routerd / peer.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-compare}
case $mode in compare | all | idle100k) ;; *)
	echo "usage: bench/run.sh [compare|all|idle100k]" >&2
	exit 2
	;;
esac

MEMBERS=${MEMBERS:-1000} PUBLISHERS=${PUBLISHERS:-10} MESSAGES=${MESSAGES:-200} SIZE=${SIZE:-64}
PACED_RATE=${PACED_RATE:-50} PACED_MESSAGES=${PACED_MESSAGES:-50} TIMEOUT=${TIMEOUT:-120s}
CONNS=${CONNS:-5000} CONCURRENCY=${CONCURRENCY:-32} IDLE_CONNS=${IDLE_CONNS:-10000}
RUNS=${RUNS:-1}
PACED_RUNS=${PACED_RUNS:-$RUNS}
SERVERS=${SERVERS:-routerd routerd-sio socketio centrifugo}
ROUTERD_PORT=${ROUTERD_PORT:-18080} NATS_PORT=${NATS_PORT:-14222} SOCKETIO_PORT=${SOCKETIO_PORT:-13000}
CENTRIFUGO_PORT=${CENTRIFUGO_PORT:-18000} CENTRIFUGO_VERSION=v6.9.1
LOCK=${LOCK:-} QUIET_WAIT=${QUIET_WAIT:-120} QUIET_CORES=${QUIET_CORES:-0.1}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT/runs"
for server in $SERVERS; do
	case $server in routerd | routerd-sio | socketio | centrifugo) ;; *)
		echo "SERVERS: unknown server $server (want routerd, routerd-sio, socketio, centrifugo)" >&2
		exit 2
		;;
	esac
done
has_server() { [[ " $SERVERS " == *" $1 "* ]]; }

echo "== building routerd and routerbench into $OUT"
go build -o "$OUT/routerd" ./cmd/routerd
go build -o "$OUT/routerbench" ./cmd/routerbench
if [ "$mode" != idle100k ] && has_server socketio && [ ! -d bench/socketio/node_modules/socket.io ]; then
	echo "== npm ci (bench/socketio)"
	(cd bench/socketio && npm ci --no-audit --no-fund)
fi
if [ "$mode" != idle100k ] && has_server centrifugo; then
	gobin=$(go env GOBIN)
	gobin=${gobin:-$(go env GOPATH)/bin}
	CENTRIFUGO=${CENTRIFUGO:-$(command -v centrifugo || echo "$gobin/centrifugo")}
	if [ ! -x "$CENTRIFUGO" ]; then
		if [ -n "${CI:-}" ]; then
			echo "== no Centrifugo at $CENTRIFUGO and CI is set: leaving Centrifugo out"
			SERVERS=${SERVERS//centrifugo/}
			unset CENTRIFUGO
		else
			echo "== go install github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION (about a minute)"
			go install "github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION"
			CENTRIFUGO=$gobin/centrifugo
		fi
	fi
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
	"$(free -g | awk '/^Mem:/ {print $2}') GiB; go $(go env GOVERSION), node $(node --version)${CENTRIFUGO:+, centrifugo $CENTRIFUGO_VERSION ($CENTRIFUGO)}"

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
		echo "127.0.0.1:$1 is in use: set ROUTERD_PORT, NATS_PORT, SOCKETIO_PORT or CENTRIFUGO_PORT" >&2
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
	rm -rf "$OUT/jetstream" # fresh state for every run
	"$OUT/routerd" -c bench/routerd.yaml --nats.jetstream.store_dir "$OUT/jetstream" \
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

# Centrifugo keeps no state on disk (memory engine).
start_centrifugo() {
	port_free "$CENTRIFUGO_PORT"
	"$CENTRIFUGO" -c bench/centrifugo/config.yaml --http_server.port "$CENTRIFUGO_PORT" >>"$OUT/centrifugo.log" 2>&1 &
	server_pid=$!
	wait_http "http://127.0.0.1:$CENTRIFUGO_PORT/metrics"
}

# busy_ticks: the machine's busy CPU time so far, in USER_HZ ticks (user,
# nice, system, irq, softirq, steal).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# wait_quiet: waits up to QUIET_WAIT seconds until the machine used less
# than QUIET_CORES of a core over 2 s (nothing of ours runs between runs).
wait_quiet() {
	[ "$QUIET_WAIT" -gt 0 ] && [ -r /proc/stat ] || return 0
	local start=$SECONDS a b
	while :; do
		a=$(busy_ticks)
		sleep 2
		b=$(busy_ticks)
		if awk -v d=$((b - a)) -v max="$QUIET_CORES" 'BEGIN {exit !(d / 200 < max)}'; then
			return 0
		fi
		if [ $((SECONDS - start)) -ge "$QUIET_WAIT" ]; then
			echo "(the machine was not quiet after ${QUIET_WAIT}s: $(awk -v d=$((b - a)) 'BEGIN {printf "%.2f", d / 200}') cores busy; running anyway)"
			return 0
		fi
	done
}

# bench SERVER WORKLOAD SCENARIO [routerbench flags...]: one run against a
# fresh server; its JSON goes to results.jsonl and runs/WORKLOAD.SERVER.jsonl.
# SERVER floor runs routerbench floor (no server of ours).
bench() {
	local server=$1 workload=$2 scenario=$3
	shift 3
	if [ -n "$LOCK" ]; then
		exec 9>"$LOCK"
		flock 9
	fi
	wait_quiet
	local target=()
	case $server in
	routerd)
		start_routerd
		target=(-url "ws://127.0.0.1:$ROUTERD_PORT/ws")
		;;
	routerd-sio)
		start_routerd
		target=(-proto socketio -url "ws://127.0.0.1:$ROUTERD_PORT/socket.io/?EIO=4&transport=websocket")
		;;
	socketio)
		start_socketio
		target=(-proto socketio -url "ws://127.0.0.1:$SOCKETIO_PORT/socket.io/?EIO=4&transport=websocket")
		;;
	centrifugo)
		start_centrifugo
		target=(-proto centrifugo -url "ws://127.0.0.1:$CENTRIFUGO_PORT/connection/websocket")
		;;
	esac
	echo
	echo "== $workload on $server: $scenario $*"
	local run="$OUT/runs/$workload.$server.json"
	rm -f "$run"
	"$OUT/routerbench" "$scenario" "${target[@]}" -out "$run" "$@" || echo "(routerbench failed: exit $?)"
	stop_server
	if [ -n "$LOCK" ]; then
		exec 9>&-
	fi
	if [ -s "$run" ]; then
		cat "$run" >>"$OUT/results.jsonl"
		cat "$run" >>"$OUT/runs/$workload.$server.jsonl"
		rm -f "$run"
	fi
}

# rounds N WORKLOAD SCENARIO [flags...]: N rounds, each running the
# workload once on every server in turn (Centrifugo always counts its
# publishers' own messages: routerbench sets -self for it).
rounds() {
	local n=$1
	shift
	for _ in $(seq "$n"); do
		for server in $SERVERS; do
			bench "$server" "$@"
		done
	done
}

# summarize: every workload's figures side by side, median [min-max] over
# its runs, and routerd's native figure divided by each peer's.
summarize() {
	node - "$OUT/runs" "$SERVERS" <<'EOF'
const fs = require("node:fs");
const path = require("node:path");
const [dir, serverList] = process.argv.slice(2);
const servers = serverList.split(/\s+/).filter(Boolean).concat(["floor"]);
const read = (w, s) => {
  const f = path.join(dir, `${w}.${s}.jsonl`);
  return fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
};
const perDelivery = (r, cpu) => (r.traffic && r.traffic.received ? (cpu / r.traffic.received) * 1e6 : NaN);
// [name, figure of a run, whether routerd / peer means something]
const traffic = [
  ["deliveries/s", (r) => r.traffic.deliveries_per_second, true],
  ["lost + out of order", (r) => r.traffic.lost + r.traffic.out_of_order, false],
  ["p50 ms", (r) => r.traffic.latency.p50_ms, true],
  ["p99 ms", (r) => r.traffic.latency.p99_ms, true],
  ["server CPU us/delivery", (r) => perDelivery(r, r.machine.server_cpu_seconds || 0), true],
  ["routerbench CPU us/delivery", (r) => perDelivery(r, r.machine.generator_cpu_seconds), true],
  ["other CPU s (not ours)", (r) => r.machine.other_cpu_seconds, false],
];
const workloads = [
  ["fanout", "fan-out, unpaced", traffic],
  ["paced", "fan-out, paced", traffic],
  ["rooms", "rooms", traffic],
  ["connect", "connect+join", [
    ["connect+join/s", (r) => r.connect.per_second, true],
    ["p50 ms", (r) => r.connect.latency.p50_ms, true],
    ["p99 ms", (r) => r.connect.latency.p99_ms, true],
    ["server CPU ms/conn", (r) => ((r.machine.server_cpu_seconds || 0) / r.connections) * 1e3, true],
    ["other CPU s (not ours)", (r) => r.machine.other_cpu_seconds, false],
  ]],
  ["idle", "idle", [
    ["RSS KiB/conn", (r) => r.idle.per_connection.process_resident_memory_bytes / 1024, true],
  ]],
];
const fmt = (v) => (!isFinite(v) ? "-" : Math.abs(v) >= 1e6 ? (v / 1e6).toFixed(2) + "M" : Math.abs(v) >= 1e4 ? (v / 1e3).toFixed(1) + "k" : Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(2));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
for (const [w, title, metrics] of workloads) {
  const present = servers.filter((s) => read(w, s).length > 0);
  if (present.length === 0) continue;
  const peers = present.filter((s) => s !== "routerd");
  const head = ["", ...present.map((s) => `${s} (${read(w, s).length})`)];
  if (present.includes("routerd")) head.push(...peers.map((p) => `routerd/${p}`));
  const rows = [head];
  for (const [name, get, ratio] of metrics) {
    const med = {};
    const row = [name];
    for (const s of present) {
      const vs = read(w, s).map((r) => { try { return get(r); } catch { return NaN; } }).filter((v) => isFinite(v));
      if (vs.length === 0) { row.push("-"); continue; }
      med[s] = median(vs);
      row.push(vs.length > 1 ? `${fmt(med[s])} [${fmt(Math.min(...vs))}-${fmt(Math.max(...vs))}]` : fmt(med[s]));
    }
    if (present.includes("routerd")) {
      for (const p of peers) row.push(ratio && med.routerd !== undefined && med[p] ? (med.routerd / med[p]).toFixed(2) : "");
    }
    rows.push(row);
  }
  console.log(`\n== ${title}: median [min-max] over the runs (runs in brackets after each server)`);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) console.log(r.map((c, i) => String(c).padEnd(widths[i])).join("  ").trimEnd());
}
EOF
}

# idle100k: one fresh routerd holding IDLE100K_CONNS connections
# (routerbench dials them from 127.0.0.2, 127.0.0.3, ... once one address
# runs out of ephemeral ports: -source auto), then BROADCASTS namespace
# broadcasts published on its NATS server, each to all of them.
idle100k() {
	local conns=${IDLE100K_CONNS:-100000} broadcasts=${BROADCASTS:-3}
	local files=$((conns + 100))
	if ! ulimit -n "$files" 2>/dev/null; then
		echo "idle100k: $conns connections need $files open files in routerd and in routerbench;" \
			"the hard limit is $(ulimit -Hn) and cannot be raised here (that takes root with CAP_SYS_RESOURCE):" \
			"set IDLE100K_CONNS below it" >&2
		return 1
	fi
	ROUTER_LIMITS_MAX_CONNECTIONS=$files start_routerd
	echo
	echo "== idle on routerd: $conns connections, then $broadcasts broadcasts to all"
	"$OUT/routerbench" idle -url "ws://127.0.0.1:$ROUTERD_PORT/ws" -nats "nats://127.0.0.1:$NATS_PORT" \
		-conns "$conns" -settle 30s -broadcasts "$broadcasts" -timeout 300s \
		-out "$OUT/results.jsonl" || echo "(routerbench failed: exit $?)"
	stop_server
}
if [ "$mode" = idle100k ]; then
	idle100k
	echo
	echo "== results (one JSON object per run): $OUT/results.jsonl"
	exit 0
fi

fanout=(-members "$MEMBERS" -publishers "$PUBLISHERS" -size "$SIZE" -timeout "$TIMEOUT")
rounds "$RUNS" fanout fanout "${fanout[@]}" -messages "$MESSAGES"
rounds "$PACED_RUNS" paced fanout "${fanout[@]}" -messages "$PACED_MESSAGES" -rate "$PACED_RATE"
if [ "$mode" = all ]; then
	rounds "$RUNS" rooms rooms -rooms 100 -per-room 10 -publishers 1 -messages 1000 -size "$SIZE" -timeout "$TIMEOUT"
	rounds "$RUNS" connect connect -conns "$CONNS" -concurrency "$CONCURRENCY"
	rounds "$RUNS" idle idle -conns "$IDLE_CONNS"
	# The floor: paced fan-out and connect over plain TCP, no server of ours.
	for _ in $(seq "$PACED_RUNS"); do
		bench floor paced floor -members "$MEMBERS" -messages $((PUBLISHERS * PACED_MESSAGES)) -rate "$PACED_RATE"
	done
	for _ in $(seq "$RUNS"); do
		bench floor connect floor -workload connect -conns "$CONNS" -concurrency "$CONCURRENCY"
	done
fi
summarize || echo "(the summary failed: exit $?)"
echo
echo "== results (one JSON object per run): $OUT/results.jsonl"
