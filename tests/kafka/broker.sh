#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs one real Apache Kafka broker for the tests: a single KRaft node (broker and controller
# in one JVM, no ZooKeeper) on free 127.0.0.1 ports, everything it writes kept in DIR.
#
#   broker.sh start DIR     start (or start again on the ports and data already in DIR), wait
#                           until it answers, print its bootstrap address 127.0.0.1:PORT
#   broker.sh stop DIR      SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT seconds
#   broker.sh restart DIR   stop, then start on the same port with the same data
#   broker.sh status DIR    print the bootstrap address and exit 0 if it is running, else 1
#
# A cluster of N nodes (each a combined broker and controller, N voters in the KRaft quorum,
# controller.quorum.voters), each node in DIR/nodeI with its own ports, data and pid:
#
#   broker.sh cluster-start DIR N   write the configs on first use, start every node at once
#                                   (a quorum needs a majority up), print the bootstrap list
#   broker.sh cluster-stop DIR      stop every node
#   broker.sh start-node DIR I      start node I again (same ports and data), e.g. after a kill
#   broker.sh stop-node DIR I       SIGTERM node I (SIGKILL after KAFKA_STOP_TIMEOUT)
#   broker.sh kill-node DIR I       SIGKILL node I, no shutdown at all
#
# DIR holds server.properties, data/ (log.dirs), broker.log (log4j), broker.out (the JVM's
# own stdout and stderr), broker.pid, bootstrap. A failed start kills what it started, prints
# the tail of the broker log to stderr and exits non-zero: it never leaves a JVM behind.
#
# Environment:
#   KAFKA_LIBS           the jars (default: build/kafka/libs of this repository, see
#                        tests/kafka/pom.xml)
#   JAVA                 the java binary (default: $JAVA_HOME/bin/java, else java)
#   KAFKA_PARTITIONS     num.partitions of auto-created topics (default 1); first start only
#   KAFKA_HEAP_OPTS      default -Xms64m -Xmx512m
#   KAFKA_JVM_OPTS       replaces the default flags, tuned for a fast start
#   KAFKA_START_TIMEOUT  seconds (default 60); KAFKA_STOP_TIMEOUT seconds (default 30)
#   KAFKA_WATCH_PID      if set, a watchdog kills the broker when this process is gone, so
#                        that a test runner killed with SIGKILL leaves no JVM behind
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KAFKA_LIBS=${KAFKA_LIBS:-$ROOT/build/kafka/libs}
if [ -z "${JAVA:-}" ]; then
	if [ -n "${JAVA_HOME:-}" ]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi
fi
KAFKA_PARTITIONS=${KAFKA_PARTITIONS:-1}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms64m -Xmx512m}
# C1 only and the serial collector: the broker is up in a few seconds on 2 cores, and a test
# broker never runs long enough for C2 to pay off.
DEFAULT_JVM_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Xss512k"
KAFKA_JVM_OPTS=${KAFKA_JVM_OPTS:-$DEFAULT_JVM_OPTS -Djava.awt.headless=true}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-60}
KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}

STARTED_MESSAGE='Kafka Server started'

die() {
	echo "broker.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: $0 start|stop|restart|status DIR" >&2
	echo "       $0 cluster-start DIR N | cluster-stop DIR | start-node|stop-node|kill-node DIR I" >&2
	exit 2
}

# Two distinct free ports on 127.0.0.1: both bound at once so they cannot be the same.
free_ports() {
	python3 - "${1:-2}" <<'PY'
import socket, sys
socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
}

# Exit 0 if the broker on 127.0.0.1:$1 answers an ApiVersions request (v0, which every
# Kafka version serves) without error: the listener is up and the request path works.
api_versions_ok() {
	python3 - "$1" <<'PY'
import socket, struct, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
        client = b"broker.sh"
        body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
        s.sendall(struct.pack(">i", len(body)) + body)
        data = b""
        while len(data) < 10:
            chunk = s.recv(4096)
            if not chunk:
                sys.exit(1)
            data += chunk
        size, corr, err = struct.unpack(">iih", data[:10])
        sys.exit(0 if corr == 7 and err == 0 else 1)
except OSError:
    sys.exit(1)
PY
}

# Exit 0 if 127.0.0.1:$1 can be bound (nothing listens there any more).
port_free() {
	python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

# Exit 0 if process $1 exists and is not a zombie (kill -0 succeeds on a zombie, and the JVM
# may be one until whoever inherited it reaps it).
alive() {
	local state
	state=$(sed -n 's/^[0-9]* (.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# The pid in $1 if that process is still the JVM of the broker in $DIR (not a recycled pid).
live_pid() {
	local file=$1 pid
	[ -s "$file" ] || return 1
	pid=$(cat "$file")
	alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/" || return 1
	echo "$pid"
}

prop() {
	sed -n "s/^$1=//p" "$DIR/server.properties"
}

write_config() {
	local ports broker_port controller_port
	ports=$(free_ports)
	read -r broker_port controller_port <<<"$ports"
	mkdir -p "$DIR/data"
	cat >"$DIR/server.properties" <<EOF
# written by tests/kafka/broker.sh: a single-node KRaft test broker on loopback
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$broker_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$broker_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=$KAFKA_PARTITIONS
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# 16 MiB messages (plus the batch overhead); requests may be larger than one message
message.max.bytes=16778240
replica.fetch.max.bytes=16778240
socket.request.max.bytes=104857600
# ask the broker to keep everything the tests write for the life of the test
log.retention.ms=-1
log.retention.bytes=-1
EOF
	cat >"$DIR/log4j2.properties" <<EOF
# written by tests/kafka/broker.sh: everything to broker.log, nothing to stdout. No log4j
# shutdown hook: it would stop the logging before Kafka's own hook has shut the broker down.
shutdownHook=disable
appender.file.type=File
appender.file.name=FILE
appender.file.fileName=$DIR/broker.log
appender.file.append=true
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=FILE
logger.kafka-request.name=kafka.request.logger
logger.kafka-request.level=WARN
logger.state-change.name=state.change.logger
logger.state-change.level=WARN
EOF
}

# Node $1 of $2 in $DIR (a cluster node directory), after write_config wrote the single-node
# files there; $3: the 2*N ports of the cluster, broker then controller port of each node.
write_node_config() {
	local id=$1 count=$2 i voters="" broker_port controller_port
	local -a ports
	read -r -a ports <<<"$3"
	for ((i = 1; i <= count; i++)); do
		voters+="${voters:+,}$i@127.0.0.1:${ports[$((2 * i - 1))]}"
	done
	broker_port=${ports[$((2 * id - 2))]}
	controller_port=${ports[$((2 * id - 1))]}
	# the single-node file, turned into node $id of the quorum
	sed -i -e "s|^# written by .*|# written by tests/kafka/broker.sh: node $id of a $count-node KRaft test cluster|" \
		-e "s|^node.id=.*|node.id=$id|" \
		-e "s|^controller.quorum.bootstrap.servers=.*|controller.quorum.voters=$voters|" \
		-e "s|^listeners=.*|listeners=PLAINTEXT://127.0.0.1:$broker_port,CONTROLLER://127.0.0.1:$controller_port|" \
		-e "s|^advertised.listeners=.*|advertised.listeners=PLAINTEXT://127.0.0.1:$broker_port|" \
		-e "s|^auto.create.topics.enable=.*|auto.create.topics.enable=false|" \
		-e "s|^default.replication.factor=.*|default.replication.factor=$count|" \
		-e "s|^offsets.topic.replication.factor=.*|offsets.topic.replication.factor=$count|" \
		-e "s|^transaction.state.log.replication.factor=.*|transaction.state.log.replication.factor=$count|" \
		-e "s|^share.coordinator.state.topic.replication.factor=.*|share.coordinator.state.topic.replication.factor=$count|" \
		"$DIR/server.properties"
	cat >>"$DIR/server.properties" <<EOF
# a node that is killed is noticed within seconds, not half a minute
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
replica.lag.time.max.ms=6000
EOF
}

# The JVM of the tools run here (storage format): warnings to stderr only.
tool_log_config() {
	cat >"$DIR/tools-log4j2.properties" <<'EOF'
appender.err.type=Console
appender.err.name=STDERR
appender.err.target=SYSTEM_ERR
appender.err.layout.type=PatternLayout
appender.err.layout.pattern=%p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.err.ref=STDERR
EOF
}

new_cluster_id() {
	# as kafka-storage random-uuid makes it: 16 random bytes in base64url without padding,
	# not starting with "-" (it would read as an option)
	python3 - <<'PY'
import base64, os
while True:
    uuid = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not uuid.startswith("-"):
        print(uuid)
        break
PY
}

format_storage() {
	local cluster_id quorum=--standalone
	# a cluster node: the cluster's id, and the static quorum of its configuration
	if [ -s "$DIR/../cluster.id" ] && [ -n "$(prop controller.quorum.voters)" ]; then
		cluster_id=$(cat "$DIR/../cluster.id")
		quorum=
	else
		cluster_id=$(new_cluster_id)
	fi
	tool_log_config
	# shellcheck disable=SC2086
	"$JAVA" $KAFKA_JVM_OPTS -Xmx256m -Dlog4j2.configurationFile="$DIR/tools-log4j2.properties" \
		-cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format $quorum \
		--cluster-id "$cluster_id" --config "$DIR/server.properties" \
		>"$DIR/format.log" 2>&1 ||
		{
			cat "$DIR/format.log" >&2
			start_failed "formatting the storage in $DIR/data failed"
		}
}

JVM_PID=
WATCHDOG_PID=
LOG_FROM=1
OUT_FROM=1

# What this start appended to $1 (from byte $2 on).
new_part() {
	tail -c "+$2" "$1" 2>/dev/null || true
}

# On any failed start: kill what this start began, show why, leave no process behind.
start_failed() {
	local pid errors
	trap - EXIT INT TERM
	set +e
	# a signal handled between the fork of the JVM and JVM_PID=$! finds only $! set
	JVM_PID=${JVM_PID:-${!:-}}
	if [ -n "$WATCHDOG_PID" ]; then
		kill "$WATCHDOG_PID" 2>/dev/null || true
	fi
	if [ -n "$JVM_PID" ]; then
		kill -KILL "$JVM_PID" 2>/dev/null || true
		wait "$JVM_PID" 2>/dev/null || true
	fi
	for pid in "$DIR/broker.pid" "$DIR/watchdog.pid"; do rm -f "$pid"; done
	rm -f "$DIR/bootstrap"
	{
		echo "broker.sh: the broker in $DIR did not start: $*"
		if [ -n "$(new_part "$DIR/broker.out" "$OUT_FROM")" ]; then
			echo "--- $DIR/broker.out (the JVM's stdout and stderr), last lines"
			new_part "$DIR/broker.out" "$OUT_FROM" | tail -n 20
		fi
		if [ -n "$(new_part "$DIR/broker.log" "$LOG_FROM")" ]; then
			errors=$(new_part "$DIR/broker.log" "$LOG_FROM" |
				grep -E '^\[[^]]*\] (ERROR|FATAL)' | tail -n 10)
			if [ -n "$errors" ]; then
				echo "--- $DIR/broker.log, errors"
				echo "$errors"
			fi
			echo "--- $DIR/broker.log, last lines"
			new_part "$DIR/broker.log" "$LOG_FROM" | tail -n 30
		fi
		if [ -z "$(new_part "$DIR/broker.out" "$OUT_FROM")" ] &&
			[ -z "$(new_part "$DIR/broker.log" "$LOG_FROM")" ]; then
			echo "--- no output from the broker in $DIR/broker.out or $DIR/broker.log"
		fi
	} >&2
	exit 1
}

# Kills the broker once the process $1 is gone. Runs detached, its output nowhere, so that a
# caller reading our stdout sees the end of it when broker.sh exits.
start_watchdog() {
	local watch=$1 jvm=$2
	(
		trap - EXIT INT TERM
		while alive "$watch" && alive "$jvm"; do
			sleep 1
		done
		if alive "$jvm"; then
			kill -TERM "$jvm" 2>/dev/null || exit 0
			for _ in $(seq 1 "$KAFKA_STOP_TIMEOUT"); do
				alive "$jvm" || exit 0
				sleep 1
			done
			kill -KILL "$jvm" 2>/dev/null || true
		fi
	) </dev/null >/dev/null 2>&1 &
	WATCHDOG_PID=$!
	echo "$WATCHDOG_PID" >"$DIR/watchdog.pid"
}

cmd_start() {
	local port cport pid deadline
	compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null ||
		die "no Kafka jars in $KAFKA_LIBS (fetch them with mvn, see tests/kafka/pom.xml)"
	command -v "$JAVA" >/dev/null || die "no java: set JAVA or JAVA_HOME"
	if pid=$(live_pid "$DIR/broker.pid"); then
		die "a broker is already running in $DIR (pid $pid)"
	fi
	trap 'start_failed "interrupted"' INT TERM
	trap 'start_failed "broker.sh failed (exit $?)"' EXIT
	if [ ! -f "$DIR/server.properties" ]; then
		write_config
	fi
	if [ ! -f "$DIR/data/meta.properties" ]; then
		format_storage
	fi
	port=$(prop listeners | sed -n 's/.*PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p')
	cport=$(prop listeners | sed -n 's/.*CONTROLLER:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p')
	if [ -z "$port" ] || [ -z "$cport" ]; then
		start_failed "no listener ports in $DIR/server.properties"
	fi
	# After a stop, wait for the ports to be ours again; someone else holding them is fatal.
	deadline=$((SECONDS + 10))
	until port_free "$port" && port_free "$cport"; do
		[ "$SECONDS" -lt "$deadline" ] ||
			start_failed "port $port or $cport on 127.0.0.1 is taken by another process"
		sleep 0.2
	done

	LOG_FROM=$(($(stat -c %s "$DIR/broker.log" 2>/dev/null || echo 0) + 1))
	OUT_FROM=$(($(stat -c %s "$DIR/broker.out" 2>/dev/null || echo 0) + 1))
	# shellcheck disable=SC2086
	"$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS \
		-Dlog4j2.configurationFile="$DIR/log4j2.properties" -Dkafka.logs.dir="$DIR" \
		-cp "$KAFKA_LIBS/*" kafka.Kafka "$DIR/server.properties" \
		</dev/null >>"$DIR/broker.out" 2>&1 &
	JVM_PID=$!
	echo "$JVM_PID" >"$DIR/broker.pid"
	if [ -n "${KAFKA_WATCH_PID:-}" ]; then
		start_watchdog "$KAFKA_WATCH_PID" "$JVM_PID"
	fi

	deadline=$((SECONDS + KAFKA_START_TIMEOUT))
	while :; do
		alive "$JVM_PID" || start_failed "the JVM exited"
		if new_part "$DIR/broker.log" "$LOG_FROM" | grep -qF "$STARTED_MESSAGE" &&
			api_versions_ok "$port"; then
			break
		fi
		[ "$SECONDS" -lt "$deadline" ] ||
			start_failed "not up after ${KAFKA_START_TIMEOUT}s"
		sleep 0.2
	done
	trap - EXIT INT TERM
	echo "127.0.0.1:$port" >"$DIR/bootstrap"
	echo "127.0.0.1:$port"
}

cmd_stop() {
	local pid wpid
	if wpid=$(cat "$DIR/watchdog.pid" 2>/dev/null) && [ -n "$wpid" ]; then
		# the watchdog is a subshell of the broker.sh that started the broker (same cmdline)
		if alive "$wpid" &&
			tr '\0' ' ' <"/proc/$wpid/cmdline" | grep -qF "broker.sh start"; then
			kill "$wpid" 2>/dev/null || true
		fi
	fi
	rm -f "$DIR/watchdog.pid"
	if ! pid=$(live_pid "$DIR/broker.pid"); then
		rm -f "$DIR/broker.pid"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
	while alive "$pid"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "broker.sh: the broker in $DIR ignored SIGTERM for" \
				"${KAFKA_STOP_TIMEOUT}s, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	while alive "$pid"; do sleep 0.1; done
	rm -f "$DIR/broker.pid"
}

cmd_status() {
	local pid
	if pid=$(live_pid "$DIR/broker.pid") && [ -s "$DIR/bootstrap" ]; then
		cat "$DIR/bootstrap"
		return 0
	fi
	echo "not running" >&2
	return 1
}

# --- the cluster ---------------------------------------------------------------------------

node_dir() {
	echo "$CLUSTER/node$1"
}

cluster_bootstrap() {
	local i list="" count
	count=$(cat "$CLUSTER/nodes")
	for ((i = 1; i <= count; i++)); do
		list+="${list:+,}$(sed -n 's|^advertised.listeners=PLAINTEXT://||p' \
			"$(node_dir "$i")/server.properties")"
	done
	echo "$list"
}

cmd_cluster_start() {
	local count=$1 i ports failed=0
	local -a pids
	if [ ! -s "$CLUSTER/nodes" ]; then
		[ "$count" -ge 1 ] 2>/dev/null || usage
		ports=$(free_ports $((2 * count)))
		new_cluster_id >"$CLUSTER/cluster.id"
		for ((i = 1; i <= count; i++)); do
			DIR=$(node_dir "$i")
			write_config
			write_node_config "$i" "$count" "$ports"
		done
		echo "$count" >"$CLUSTER/nodes"
	fi
	count=$(cat "$CLUSTER/nodes")
	# every node at once: none is up before a majority of the voters is
	for ((i = 1; i <= count; i++)); do
		"$0" start "$(node_dir "$i")" >/dev/null &
		pids[i]=$!
	done
	for ((i = 1; i <= count; i++)); do
		wait "${pids[i]}" || failed=1
	done
	if [ "$failed" -ne 0 ]; then
		cmd_cluster_stop
		die "the cluster in $CLUSTER did not start"
	fi
	cluster_bootstrap >"$CLUSTER/bootstrap"
	cat "$CLUSTER/bootstrap"
}

cmd_cluster_stop() {
	local i count
	[ -s "$CLUSTER/nodes" ] || return 0
	count=$(cat "$CLUSTER/nodes")
	for ((i = 1; i <= count; i++)); do
		"$0" stop "$(node_dir "$i")" &
	done
	wait
}

cmd_kill_node() {
	local pid wpid
	DIR=$(node_dir "$1")
	if wpid=$(cat "$DIR/watchdog.pid" 2>/dev/null) && [ -n "$wpid" ] && alive "$wpid" &&
		tr '\0' ' ' <"/proc/$wpid/cmdline" | grep -qF "broker.sh start"; then
		kill "$wpid" 2>/dev/null || true
	fi
	rm -f "$DIR/watchdog.pid"
	if pid=$(live_pid "$DIR/broker.pid"); then
		kill -KILL "$pid" 2>/dev/null || true
		while alive "$pid"; do sleep 0.1; done
	fi
	rm -f "$DIR/broker.pid"
}

case ${1:-} in
cluster-start | cluster-stop | start-node | stop-node | kill-node)
	[ $# -ge 2 ] || usage
	[ "$1" = cluster-start ] || [ "$1" = cluster-stop ] || [ $# -eq 3 ] || usage
	[ "$1" != cluster-start ] || [ $# -eq 3 ] || usage
	mkdir -p "$2"
	CLUSTER=$(cd "$2" && pwd)
	case $1 in
	cluster-start) cmd_cluster_start "$3" ;;
	cluster-stop) cmd_cluster_stop ;;
	start-node) exec "$0" start "$(node_dir "$3")" ;;
	stop-node) exec "$0" stop "$(node_dir "$3")" ;;
	kill-node) cmd_kill_node "$3" ;;
	esac
	exit 0
	;;
esac

[ $# -eq 2 ] || usage
case $1 in
start | restart) mkdir -p "$2" ;;
stop) [ -d "$2" ] || exit 0 ;;
status) [ -d "$2" ] || { echo "not running" >&2; exit 1; } ;;
*) usage ;;
esac
DIR=$(cd "$2" && pwd)
case $1 in
start) cmd_start ;;
stop) cmd_stop ;;
restart)
	cmd_stop
	cmd_start
	;;
status) cmd_status ;;
esac
