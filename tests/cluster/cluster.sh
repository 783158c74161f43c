#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs a real multi-node ClickHouse cluster for the tests: SHARDS x REPLICAS clickhouse-server
# processes (Debian's 18.16, see `make deps`) and one standalone ZooKeeper, all on free
# 127.0.0.1 ports, everything they write kept in DIR. The cluster is called `flows` in
# remote_servers, every shard with internal_replication; each server has the macros {shard}
# and {replica}, so ReplicatedMergeTree('/clickhouse/tables/{shard}/t', '{replica}') and
# Distributed('flows', ...) work the same on every node.
#
#   cluster.sh start DIR [SHARDS [REPLICAS]]  (default 2 2) write the configs on first use,
#               start ZooKeeper and every server that is not running, wait until each answers,
#               print one line per replica: SHARD REPLICA http://127.0.0.1:HTTP/ TCP (also in
#               DIR/nodes). Again on an existing DIR: the same ports and data.
#   cluster.sh stop DIR                     every server, then ZooKeeper (SIGTERM, SIGKILL
#                                           after CLUSTER_STOP_TIMEOUT); 0 if already down
#   cluster.sh stop-node|kill-node|start-node DIR SHARD REPLICA
#   cluster.sh stop-zk|kill-zk|start-zk DIR
#   cluster.sh add-shard DIR                one more shard (same replica count): writes and
#               starts its replicas, rewrites remote_servers on every node, waits until every
#               running node's system.clusters shows it, prints the new nodes' lines
#   cluster.sh status DIR                   one line per process, up or down; 0 if all are up
#   cluster.sh sql DIR SHARD REPLICA [QUERY] the query (else stdin) over HTTP, prints the result
#
# DIR holds cluster.conf (ports, replica count), nodes, watchdog.pid, zookeeper/ (zoo.cfg,
# data/, zk.out, zk.pid) and one sSrR/ per server (config.xml, config.d/remote_servers.xml,
# geo_dictionary.xml (sql/cluster's, with the node's TCP port), users.xml, data/, server.log,
# server.err.log, server.out, server.pid). A failed start kills what it started, prints which
# process failed and the tail of its logs to stderr, exits 1: it never leaves a process
# behind; so does SIGINT or SIGTERM during a start.
#
# Environment:
#   CLICKHOUSE_SERVER      default build/clickhouse/clickhouse-server of this repository
#   JAVA                   default $JAVA_HOME/bin/java, else java
#   ZOOKEEPER_CLASSPATH    default /usr/share/java/zookeeper.jar (Debian's zookeeper)
#   CLUSTER_START_TIMEOUT  seconds (default 60); CLUSTER_STOP_TIMEOUT seconds (default 30)
#   CLUSTER_LOG_LEVEL      the servers' log level (default warning); first start only
#   CLUSTER_WATCH_PID      if set, a watchdog stops the whole cluster when this process is
#                          gone, so that a test runner killed with SIGKILL leaves nothing behind
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SELF=$ROOT/tests/cluster/cluster.sh
CLICKHOUSE_SERVER=${CLICKHOUSE_SERVER:-$ROOT/build/clickhouse/clickhouse-server}
if [ -z "${JAVA:-}" ]; then
	if [ -n "${JAVA_HOME:-}" ]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi
fi
ZOOKEEPER_CLASSPATH=${ZOOKEEPER_CLASSPATH:-/usr/share/java/zookeeper.jar}
CLUSTER_START_TIMEOUT=${CLUSTER_START_TIMEOUT:-60}
CLUSTER_STOP_TIMEOUT=${CLUSTER_STOP_TIMEOUT:-30}
CLUSTER_LOG_LEVEL=${CLUSTER_LOG_LEVEL:-warning}
# C1 only, the serial collector, a small heap: ZooKeeper is up in about a second on 2 cores
ZK_JVM_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Xms16m -Xmx256m"
# The servers' ZooKeeper session: a replica killed and started again at once waits for its
# old session to expire before it can take its replica node back (1.5 s with 3 s).
ZK_SESSION_TIMEOUT_MS=3000

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

usage() {
	cat >&2 <<EOF
usage: $0 start DIR [SHARDS [REPLICAS]] | stop DIR | status DIR | add-shard DIR
       $0 stop-node|kill-node|start-node DIR SHARD REPLICA
       $0 stop-zk|kill-zk|start-zk DIR
       $0 sql DIR SHARD REPLICA [QUERY]
EOF
	exit 2
}

# --- helpers in Python (sockets and HTTP without curl) -------------------------------------
PY_HELPER=$(
	cat <<'PY'
import os, socket, sys, time, urllib.error, urllib.request

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

def query(port, sql, timeout=10):
    """(status, body) of an HTTP POST of sql; status 0 if the server did not answer."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=sql.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ValueError) as e:
        return 0, str(e)

def zk_word(port, word, timeout=2):
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=timeout) as s:
            s.sendall(word.encode())
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return data.decode(errors="replace")
                data += chunk
    except OSError:
        return ""

def main(cmd, args):
    if cmd == "free-ports":
        socks = [socket.socket() for _ in range(int(args[0]))]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        print(*(s.getsockname()[1] for s in socks))
    elif cmd == "port-free":
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", int(args[0])))
        except OSError:
            return 1
    elif cmd == "zk-mode":
        for line in zk_word(args[0], "srvr").splitlines():
            if line.startswith("Mode: "):
                print(line[6:])
                return 0
        return 1
    elif cmd == "zk-wait":                      # TIMEOUT PID PORT
        deadline = time.monotonic() + float(args[0])
        while True:
            if not alive(args[1]):
                print("the JVM exited")
                return 1
            if "Mode: standalone" in zk_word(args[2], "srvr"):
                return 0
            if time.monotonic() > deadline:
                print(f"not serving (srvr: Mode: standalone) after {args[0]}s")
                return 1
            time.sleep(0.1)
    elif cmd == "http-wait":                    # TIMEOUT LABEL:PID:PORT...
        deadline = time.monotonic() + float(args[0])
        waiting = [a.split(":") for a in args[1:]]
        last = {}
        while waiting:
            for label, pid, port in list(waiting):
                if not alive(pid):
                    print(f"{label} the server exited")
                    return 1
                status, body = query(port, "SELECT 1", timeout=2)
                if status == 200 and body == "1\n":
                    waiting.remove([label, pid, port])
                last[label] = f"HTTP {status}: {body.strip()[:200]}" if status else body
            if waiting and time.monotonic() > deadline:
                label = waiting[0][0]
                print(f"{label} not answering SELECT 1 after {args[0]}s ({last.get(label)})")
                return 1
            if waiting:
                time.sleep(0.1)
    elif cmd == "clusters-wait":                # TIMEOUT SHARD REPLICAS LABEL:PORT...
        deadline = time.monotonic() + float(args[0])
        shard, replicas = int(args[1]), int(args[2])
        waiting = [a.split(":") for a in args[3:]]
        sql = ("SELECT max(shard_num), countIf(shard_num = %d) FROM system.clusters "
               "WHERE cluster = 'flows' FORMAT TSV" % shard)
        last = {}
        while waiting:
            for label, port in list(waiting):
                status, body = query(port, sql, timeout=2)
                last[label] = f"HTTP {status}: {body.strip()[:200]}"
                if status == 200 and body.split() == [str(shard), str(replicas)]:
                    waiting.remove([label, port])
            if waiting and time.monotonic() > deadline:
                label = waiting[0][0]
                print(f"{label}: system.clusters has no shard {shard} of {replicas} replicas "
                      f"after {args[0]}s (max shard, its replicas: {last.get(label)})")
                return 1
            if waiting:
                time.sleep(0.2)
    elif cmd == "query":                        # PORT [SQL]
        sql = args[1] if len(args) > 1 else sys.stdin.read()
        status, body = query(args[0], sql, timeout=300)
        if status != 200:
            sys.stderr.write(f"HTTP {status}: {body}" if status else f"no answer: {body}\n")
            return 1
        sys.stdout.write(body)
    return 0

sys.exit(main(sys.argv[1], sys.argv[2:]))
PY
)

py() {
	python3 -c "$PY_HELPER" "$@"
}

# Exit 0 if process $1 exists and is not a zombie.
alive() {
	local state
	state=$(sed -n 's/^[0-9]* (.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# The pid in file $1 if that process is still the one started for it: its command line holds
# $2 (the absolute path of its config), so a recycled pid is not taken for it.
live_pid() {
	local file=$1 needle=$2 pid
	[ -s "$file" ] || return 1
	pid=$(cat "$file")
	alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle" || return 1
	echo "$pid"
}

# --- the cluster's layout ------------------------------------------------------------------
# cluster.conf:  zookeeper PORT / replicas N / node SHARD REPLICA HTTP TCP INTERSERVER ...
conf() {
	[ -f "$DIR/cluster.conf" ] || die "no cluster in $DIR (no cluster.conf): run start first"
	cat "$DIR/cluster.conf"
}
zk_port() { conf | awk '$1 == "zookeeper" { print $2 }'; }
replica_count() { conf | awk '$1 == "replicas" { print $2 }'; }
shard_count() { conf | awk '$1 == "node" && $2 > n { n = $2 } END { print n + 0 }'; }
# "SHARD REPLICA" of every node, one a line
node_list() { conf | awk '$1 == "node" { print $2, $3 }'; }
# "HTTP TCP INTERSERVER" of node $1 $2
node_ports() {
	local ports
	ports=$(conf | awk -v s="$1" -v r="$2" '$1 == "node" && $2 == s && $3 == r { print $4, $5, $6 }')
	[ -n "$ports" ] || die "no node shard $1 replica $2 in $DIR/cluster.conf"
	echo "$ports"
}
node_name() { echo "s$1r$2"; }
node_dir() { echo "$DIR/s$1r$2"; }
node_config() { echo "$DIR/s$1r$2/config.xml"; }
node_line() {
	local http tcp inter
	read -r http tcp inter <<<"$(node_ports "$1" "$2")"
	echo "$1 $2 http://127.0.0.1:$http/ $tcp"
}
ZK_DIR_NAME=zookeeper
zk_dir() { echo "$DIR/$ZK_DIR_NAME"; }

node_pid() { live_pid "$(node_dir "$1" "$2")/server.pid" "--config-file=$(node_config "$1" "$2")"; }
zk_pid() { live_pid "$(zk_dir)/zk.pid" "$(zk_dir)/zoo.cfg"; }

# N free ports that are not in cluster.conf yet (a stopped node's ports are free, not ours to
# hand out again).
new_ports() {
	local n=$1 taken ports p ok
	taken=" $( (cat "$DIR/cluster.conf" 2>/dev/null || true) | awk '$1 == "zookeeper" { print $2 }
		$1 == "node" { print $4, $5, $6 }' | tr '\n' ' ') "
	while :; do
		ports=$(py free-ports "$n")
		ok=1
		for p in $ports; do
			case $taken in *" $p "*) ok=0 ;; esac
		done
		[ "$ok" -eq 0 ] || break
	done
	echo "$ports"
}

write_zk_config() {
	local dir
	dir=$(zk_dir)
	mkdir -p "$dir/data"
	cat >"$dir/zoo.cfg" <<EOF
# written by tests/cluster/cluster.sh: a standalone test ZooKeeper on loopback
tickTime=500
dataDir=$dir/data
clientPort=$(zk_port)
clientPortAddress=127.0.0.1
maxClientCnxns=0
minSessionTimeout=1000
maxSessionTimeout=30000
4lw.commands.whitelist=srvr,ruok,mntr
admin.enableServer=false
autopurge.purgeInterval=0
EOF
}

# config.xml and users.xml of node $1 $2; remote_servers is config.d/remote_servers.xml
write_node_config() {
	local s=$1 r=$2 dir http tcp inter
	dir=$(node_dir "$s" "$r")
	read -r http tcp inter <<<"$(node_ports "$s" "$r")"
	mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/config.d"
	cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<!-- written by tests/cluster/cluster.sh: shard $s replica $r of a test cluster on loopback.
     config.d/remote_servers.xml (the cluster "flows") is rewritten by add-shard; the server
     reloads it by itself (it checks every 2 s). -->
<yandex>
    <logger>
        <level>$CLUSTER_LOG_LEVEL</level>
        <log>$dir/server.log</log>
        <errorlog>$dir/server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
        <console>0</console>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <interserver_http_port>$inter</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>67108864</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <max_concurrent_queries>50</max_concurrent_queries>
    <!-- on SIGTERM, wait at most 1 s for running queries (default 5) -->
    <shutdown_wait_unfinished>1</shutdown_wait_unfinished>
    <zookeeper>
        <node>
            <host>127.0.0.1</host>
            <port>$(zk_port)</port>
        </node>
        <session_timeout_ms>$ZK_SESSION_TIMEOUT_MS</session_timeout_ms>
    </zookeeper>
    <macros>
        <shard>$s</shard>
        <replica>$(node_name "$s" "$r")</replica>
    </macros>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
    <!-- the geolocation dictionary flows.geo (18.16 has no CREATE DICTIONARY) -->
    <dictionaries_config>$dir/geo_dictionary.xml</dictionaries_config>
</yandex>
EOF
	sed "s|<port>9000</port>|<port>$tcp</port>|" "$ROOT/sql/cluster/geo_dictionary.xml" \
		>"$dir/geo_dictionary.xml"
	cat >"$dir/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- written by tests/cluster/cluster.sh: user default, no password, loopback only -->
<yandex>
    <profiles>
        <default>
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
            <!-- an idle TCP connection (another node's Distributed pool) notices a shutdown
                 within 1 s, not 10: a stop takes a second, not ten -->
            <poll_interval>1</poll_interval>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default></default>
    </quotas>
</yandex>
EOF
}

remote_servers_xml() {
	local s r http tcp inter
	echo '<?xml version="1.0"?>'
	echo '<!-- written by tests/cluster/cluster.sh: the cluster "flows", every node of DIR -->'
	echo '<yandex>'
	echo '    <remote_servers>'
	echo '        <flows>'
	for ((s = 1; s <= $(shard_count); s++)); do
		echo '            <shard>'
		echo '                <internal_replication>true</internal_replication>'
		while read -r _ r; do
			read -r http tcp inter <<<"$(node_ports "$s" "$r")"
			echo "                <replica><host>127.0.0.1</host><port>$tcp</port></replica>"
		done < <(node_list | awk -v s="$s" '$1 == s')
		echo '            </shard>'
	done
	echo '        </flows>'
	echo '    </remote_servers>'
	echo '</yandex>'
}

# config.d/remote_servers.xml of every node, replaced atomically. The server compares the
# files' modification times in whole seconds: a rewrite within the second of the last one
# gets a later time, or it would not be noticed.
write_remote_servers() {
	local xml s r file old new
	xml=$(remote_servers_xml)
	while read -r s r; do
		file=$(node_dir "$s" "$r")/config.d/remote_servers.xml
		old=$(stat -c %Y "$file" 2>/dev/null || echo 0)
		echo "$xml" >"$file.tmp"
		new=$(stat -c %Y "$file.tmp")
		if [ "$new" -le "$old" ]; then
			touch -d "@$((old + 1))" "$file.tmp"
		fi
		mv -f "$file.tmp" "$file"
	done < <(node_list)
}

write_cluster() {
	local shards=$1 replicas=$2 ports s r i=1
	local -a p
	mkdir -p "$DIR"
	ports=$(new_ports $((1 + 3 * shards * replicas)))
	read -r -a p <<<"$ports"
	{
		echo "# written by tests/cluster/cluster.sh: $shards shards x $replicas replicas"
		echo "# node SHARD REPLICA HTTP TCP INTERSERVER"
		echo "zookeeper ${p[0]}"
		echo "replicas $replicas"
		for ((s = 1; s <= shards; s++)); do
			for ((r = 1; r <= replicas; r++)); do
				echo "node $s $r ${p[i]} ${p[i + 1]} ${p[i + 2]}"
				i=$((i + 3))
			done
		done
	} >"$DIR/cluster.conf.tmp"
	mv "$DIR/cluster.conf.tmp" "$DIR/cluster.conf"
	write_zk_config
	while read -r s r; do
		write_node_config "$s" "$r"
	done < <(node_list)
	write_remote_servers
}

write_nodes_file() {
	local s r
	while read -r s r; do node_line "$s" "$r"; done < <(node_list) >"$DIR/nodes.tmp"
	mv "$DIR/nodes.tmp" "$DIR/nodes"
}

check_server_binary() {
	[ -x "$CLICKHOUSE_SERVER" ] ||
		die "no ClickHouse server at $CLICKHOUSE_SERVER: run make deps (or set CLICKHOUSE_SERVER)"
	if ldd "$CLICKHOUSE_SERVER" 2>/dev/null | grep -q 'not found'; then
		die "$CLICKHOUSE_SERVER misses libraries (run make deps: clickhouse-common):" \
			"$(ldd "$CLICKHOUSE_SERVER" | grep 'not found' | tr -s ' \t\n' ' ')"
	fi
}

check_zk_binary() {
	command -v "$JAVA" >/dev/null || die "no java ($JAVA): set JAVA or JAVA_HOME (run make deps)"
	local jar
	for jar in ${ZOOKEEPER_CLASSPATH//:/ }; do
		[ -r "$jar" ] || die "no ZooKeeper jar $jar: run make deps (or set ZOOKEEPER_CLASSPATH)"
	done
}

# --- starting, with cleanup on every failure -----------------------------------------------
STARTED=()     # "pid label dir" of every process this invocation started
declare -A LOG_FROM=()
STARTED_WATCHDOG=

# What this invocation appended to file $1 (mark_logs noted its size before).
new_part() {
	local from=${LOG_FROM[$1]:-0}
	tail -c "+$((from + 1))" "$1" 2>/dev/null || true
}

mark_logs() {
	local f
	for f in "$@"; do
		LOG_FROM[$f]=$(stat -c %s "$f" 2>/dev/null || echo 0)
	done
}

show_logs() {
	local dir=$1 f shown=0 errors
	for f in "$dir/server.out" "$dir/zk.out"; do
		if [ -n "$(new_part "$f")" ]; then
			echo "--- $f (stdout and stderr), last lines"
			new_part "$f" | tail -n 20
			shown=1
		fi
	done
	# the errors without their stack traces (a line per frame)
	if [ -n "$(new_part "$dir/server.err.log")" ]; then
		errors=$(new_part "$dir/server.err.log" | grep -Ev '^([0-9]+\. |$)' | tail -n 10)
		echo "--- $dir/server.err.log, last errors"
		echo "$errors"
		shown=1
	fi
	if [ -n "$(new_part "$dir/server.log")" ]; then
		echo "--- $dir/server.log, last lines"
		new_part "$dir/server.log" | grep -Ev '^([0-9]+\. |$)' | tail -n 20
		shown=1
	fi
	[ "$shown" -eq 1 ] || echo "--- no output in $dir"
}

begin_start() {
	trap 'start_failed "" "interrupted"' INT TERM
	trap 'start_failed "" "cluster.sh failed (exit $?)"' EXIT
}

end_start() {
	trap - EXIT INT TERM
}

# $1: the directory of the process that failed ("" if none in particular), $2: why. Kills
# everything this invocation started, shows the logs, exits 1.
start_failed() {
	local failed_dir=$1 why=$2 entry pid label dir
	trap - EXIT INT TERM
	set +e
	# a signal between a fork and the STARTED+= after it finds only $! set
	if [ -n "${!:-}" ] && [ "$!" != "$STARTED_WATCHDOG" ] && alive "$!"; then
		case " ${STARTED[*]-} " in *" $! "*) ;; *) kill -KILL "$!" 2>/dev/null ;; esac
	fi
	for entry in "${STARTED[@]}"; do
		read -r pid label dir <<<"$entry"
		kill -KILL "$pid" 2>/dev/null
	done
	for entry in "${STARTED[@]}"; do
		read -r pid label dir <<<"$entry"
		while alive "$pid"; do sleep 0.05; done
		rm -f "$dir/server.pid" "$dir/zk.pid"
	done
	if [ -n "$STARTED_WATCHDOG" ] && ! anything_running; then
		kill "$STARTED_WATCHDOG" 2>/dev/null
		rm -f "$DIR/watchdog.pid"
	fi
	{
		echo "cluster.sh: $why"
		if [ -n "$failed_dir" ]; then
			show_logs "$failed_dir"
		else
			for entry in "${STARTED[@]}"; do
				read -r pid label dir <<<"$entry"
				echo "--- $label ($dir)"
				show_logs "$dir"
			done
		fi
		if [ "${#STARTED[@]}" -gt 0 ]; then
			echo "cluster.sh: killed what this start began:$(for e in "${STARTED[@]}"; do
				read -r pid label dir <<<"$e"
				printf ' %s (pid %s)' "$label" "$pid"
			done)"
		fi
	} >&2
	exit 1
}

anything_running() {
	local s r
	zk_pid >/dev/null && return 0
	while read -r s r; do
		node_pid "$s" "$r" >/dev/null && return 0
	done < <(node_list)
	return 1
}

# The watchdog: a second cluster.sh (`_watchdog DIR PID`) that stops every process of DIR once
# PID is gone. One per cluster; a start from another watched process replaces it.
watchdog_pid() {
	live_pid "$DIR/watchdog.pid" "cluster.sh _watchdog $DIR "
}

ensure_watchdog() {
	local pid watched
	[ -n "${CLUSTER_WATCH_PID:-}" ] || return 0
	alive "$CLUSTER_WATCH_PID" || die "CLUSTER_WATCH_PID $CLUSTER_WATCH_PID is not running"
	if pid=$(watchdog_pid); then
		watched=$(tr '\0' '\n' <"/proc/$pid/cmdline" | tail -n 1)
		[ "$watched" != "$CLUSTER_WATCH_PID" ] || return 0
		kill "$pid" 2>/dev/null || true
	fi
	# setsid: not in the caller's process group, so a Ctrl-C there does not stop it first
	setsid "$SELF" _watchdog "$DIR" "$CLUSTER_WATCH_PID" </dev/null >>"$DIR/watchdog.log" 2>&1 &
	STARTED_WATCHDOG=$!
	echo "$STARTED_WATCHDOG" >"$DIR/watchdog.pid"
}

# The processes of DIR now, as "PID NEEDLE" lines (servers first, ZooKeeper last).
cluster_pids() {
	local f pid
	for f in "$DIR"/*/server.pid; do
		if pid=$(live_pid "$f" "--config-file=${f%/server.pid}/config.xml"); then
			echo "$pid --config-file=${f%/server.pid}/config.xml"
		fi
	done
	if pid=$(live_pid "$DIR/$ZK_DIR_NAME/zk.pid" "$DIR/$ZK_DIR_NAME/zoo.cfg"); then
		echo "$pid $DIR/$ZK_DIR_NAME/zoo.cfg"
	fi
}

# SIGTERM the processes in $@ ("PID NEEDLE" each) that are still theirs, SIGKILL those left
# after CLUSTER_STOP_TIMEOUT; returns once all are gone.
stop_all() {
	local entry pid needle deadline
	local -a left=()
	for entry in "$@"; do
		read -r pid needle <<<"$entry"
		if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"; then
			echo "$(date +%T) SIGTERM $pid ($needle)"
			kill -TERM "$pid" 2>/dev/null || true
			left+=("$pid")
		fi
	done
	deadline=$((SECONDS + CLUSTER_STOP_TIMEOUT))
	while [ "${#left[@]}" -gt 0 ]; do
		local -a still=()
		for pid in "${left[@]}"; do
			if alive "$pid"; then still+=("$pid"); fi
		done
		left=("${still[@]}")
		[ "${#left[@]}" -gt 0 ] || break
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$(date +%T) SIGKILL ${left[*]}: not gone ${CLUSTER_STOP_TIMEOUT}s after SIGTERM"
			kill -KILL "${left[@]}" 2>/dev/null || true
		fi
		sleep 0.1
	done
}

# The watchdog's loop: every second, note the cluster's processes (in case DIR goes away
# with the pid files); once $1 is gone, stop them: the servers first, then ZooKeeper (a server
# that has lost ZooKeeper takes seconds longer to shut down). Logs to DIR/watchdog.log.
cmd_watchdog() {
	local watch=$1 pid needle entry
	local -A known=()
	local -a servers=() zk=()
	trap '' INT
	echo "$(date +%T) watching pid $watch"
	while alive "$watch" && [ -d "$DIR" ]; do
		while read -r pid needle; do
			[ -z "$pid" ] || known[$pid]=$needle
		done < <(cluster_pids)
		sleep 1
	done
	echo "$(date +%T) pid $watch is gone: stopping the cluster"
	# the last look, then everything ever seen
	while read -r pid needle; do
		[ -z "$pid" ] || known[$pid]=$needle
	done < <(cluster_pids 2>/dev/null || true)
	for pid in "${!known[@]}"; do
		entry="$pid ${known[$pid]}"
		case ${known[$pid]} in
		*/zoo.cfg) zk+=("$entry") ;;
		*) servers+=("$entry") ;;
		esac
	done
	stop_all "${servers[@]}"
	stop_all "${zk[@]}"
	echo "$(date +%T) done"
	if [ "$(cat "$DIR/watchdog.pid" 2>/dev/null)" = "$$" ]; then rm -f "$DIR/watchdog.pid"; fi
}

# Waits (at most 10 s, a stopped process's ports may take a moment) until the ports are free.
wait_ports_free() {
	local what=$1 port deadline=$((SECONDS + 10))
	shift
	for port in "$@"; do
		until py port-free "$port"; do
			[ "$SECONDS" -lt "$deadline" ] ||
				start_failed "" "$what: port $port on 127.0.0.1 is taken by another process"
			sleep 0.2
		done
	done
}

start_zk() {
	local dir pid port why
	dir=$(zk_dir)
	port=$(zk_port)
	wait_ports_free "ZooKeeper" "$port"
	mark_logs "$dir/zk.out"
	# shellcheck disable=SC2086
	"$JAVA" $ZK_JVM_OPTS -Dzookeeper.admin.enableServer=false \
		-cp "$dir:$ZOOKEEPER_CLASSPATH" org.apache.zookeeper.server.ZooKeeperServerMain \
		"$dir/zoo.cfg" </dev/null >>"$dir/zk.out" 2>&1 &
	pid=$!
	disown "$pid" # no "Killed" line from bash if a failed start kills it
	STARTED+=("$pid zookeeper $dir")
	echo "$pid" >"$dir/zk.pid"
	why=$(py zk-wait "$CLUSTER_START_TIMEOUT" "$pid" "$port") ||
		start_failed "$dir" "ZooKeeper (127.0.0.1:$port) did not start: $why"
}

# Forks the server of node $1 $2; wait_servers waits for it.
fork_server() {
	local s=$1 r=$2 dir pid http tcp inter
	dir=$(node_dir "$s" "$r")
	read -r http tcp inter <<<"$(node_ports "$s" "$r")"
	wait_ports_free "shard $s replica $r" "$http" "$tcp" "$inter"
	mark_logs "$dir/server.out" "$dir/server.log" "$dir/server.err.log"
	"$CLICKHOUSE_SERVER" --config-file="$dir/config.xml" </dev/null >>"$dir/server.out" 2>&1 &
	pid=$!
	disown "$pid"
	STARTED+=("$pid $(node_name "$s" "$r") $dir")
	echo "$pid" >"$dir/server.pid"
}

# Waits until every server this invocation started answers SELECT 1.
wait_servers() {
	local entry pid label dir args=() why s r http tcp inter
	for entry in "${STARTED[@]}"; do
		read -r pid label dir <<<"$entry"
		[ "$label" != zookeeper ] || continue
		s=${label#s}
		s=${s%r*}
		r=${label##*r}
		read -r http tcp inter <<<"$(node_ports "$s" "$r")"
		args+=("$label:$pid:$http")
	done
	[ "${#args[@]}" -gt 0 ] || return 0
	if ! why=$(py http-wait "$CLUSTER_START_TIMEOUT" "${args[@]}"); then
		label=${why%% *}
		s=${label#s}
		s=${s%r*}
		r=${label##*r}
		start_failed "$(node_dir "$s" "$r")" \
			"shard $s replica $r ($label) did not start: ${why#* }"
	fi
}

ensure_zk() {
	if ! zk_pid >/dev/null; then
		check_zk_binary
		start_zk
	fi
}

cmd_start() {
	local shards=${1:-} replicas=${2:-} s r
	if [ -n "$shards" ]; then
		[ "$shards" -ge 1 ] 2>/dev/null || usage
	fi
	if [ -n "$replicas" ]; then
		[ "$replicas" -ge 1 ] 2>/dev/null || usage
	fi
	check_server_binary
	check_zk_binary
	mkdir -p "$DIR"
	begin_start
	if [ ! -f "$DIR/cluster.conf" ]; then
		write_cluster "${shards:-2}" "${replicas:-2}"
	elif { [ -n "$shards" ] && [ "$shards" != "$(shard_count)" ]; } ||
		{ [ -n "$replicas" ] && [ "$replicas" != "$(replica_count)" ]; }; then
		end_start
		die "$DIR holds a cluster of $(shard_count) shards x $(replica_count) replicas," \
			"not $shards x ${replicas:-$(replica_count)}"
	fi
	ensure_watchdog
	ensure_zk
	while read -r s r; do
		node_pid "$s" "$r" >/dev/null || fork_server "$s" "$r"
	done < <(node_list)
	wait_servers
	end_start
	write_nodes_file
	cat "$DIR/nodes"
}

cmd_start_node() {
	local s=$1 r=$2 pid
	node_ports "$s" "$r" >/dev/null
	check_server_binary
	if pid=$(node_pid "$s" "$r"); then
		die "shard $s replica $r is already running (pid $pid)"
	fi
	begin_start
	ensure_watchdog
	fork_server "$s" "$r"
	wait_servers
	end_start
	node_line "$s" "$r"
}

cmd_start_zk() {
	local pid
	conf >/dev/null
	if pid=$(zk_pid); then
		die "ZooKeeper is already running (pid $pid)"
	fi
	check_zk_binary
	begin_start
	ensure_watchdog
	start_zk
	end_start
	echo "127.0.0.1:$(zk_port)"
}

cmd_add_shard() {
	local s r replicas ports i=0 args=() http tcp inter
	local -a p
	check_server_binary
	zk_pid >/dev/null || die "ZooKeeper in $DIR is not running: start the cluster first"
	replicas=$(replica_count)
	s=$(($(shard_count) + 1))
	begin_start
	ensure_watchdog
	ports=$(new_ports $((3 * replicas)))
	read -r -a p <<<"$ports"
	{
		cat "$DIR/cluster.conf"
		for ((r = 1; r <= replicas; r++)); do
			echo "node $s $r ${p[i]} ${p[i + 1]} ${p[i + 2]}"
			i=$((i + 3))
		done
	} >"$DIR/cluster.conf.tmp"
	mv "$DIR/cluster.conf.tmp" "$DIR/cluster.conf"
	for ((r = 1; r <= replicas; r++)); do
		write_node_config "$s" "$r"
	done
	write_remote_servers
	write_nodes_file
	for ((r = 1; r <= replicas; r++)); do
		fork_server "$s" "$r"
	done
	wait_servers
	# every running node, old and new, must have taken the new remote_servers
	while read -r i r; do
		if node_pid "$i" "$r" >/dev/null; then
			read -r http tcp inter <<<"$(node_ports "$i" "$r")"
			args+=("$(node_name "$i" "$r"):$http")
		fi
	done < <(node_list)
	local why
	why=$(py clusters-wait "$CLUSTER_START_TIMEOUT" "$s" "$replicas" "${args[@]}") ||
		start_failed "" "shard $s: $why"
	end_start
	for ((r = 1; r <= replicas; r++)); do
		node_line "$s" "$r"
	done
}

# --- stopping ------------------------------------------------------------------------------
# SIGTERM (or $2) process $1, SIGKILL after CLUSTER_STOP_TIMEOUT; returns once it is gone.
stop_pid() {
	local pid=$1 sig=${2:-TERM} what=$3 deadline
	kill "-$sig" "$pid" 2>/dev/null || true
	deadline=$((SECONDS + CLUSTER_STOP_TIMEOUT))
	while alive "$pid"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "cluster.sh: $what ignored SIGTERM for ${CLUSTER_STOP_TIMEOUT}s, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.05
	done
	while alive "$pid"; do sleep 0.05; done
}

stop_node() {
	local s=$1 r=$2 sig=${3:-TERM} pid
	if pid=$(node_pid "$s" "$r"); then
		stop_pid "$pid" "$sig" "shard $s replica $r (pid $pid)"
	fi
	rm -f "$(node_dir "$s" "$r")/server.pid"
}

stop_zk() {
	local sig=${1:-TERM} pid
	if pid=$(zk_pid); then
		stop_pid "$pid" "$sig" "ZooKeeper (pid $pid)"
	fi
	rm -f "$(zk_dir)/zk.pid"
}

cmd_stop() {
	local s r pid
	[ -f "$DIR/cluster.conf" ] || return 0
	if pid=$(watchdog_pid); then
		kill "$pid" 2>/dev/null || true
	fi
	rm -f "$DIR/watchdog.pid"
	# every server at once (each may wait for its queries), then ZooKeeper
	while read -r s r; do
		stop_node "$s" "$r" &
	done < <(node_list)
	wait
	stop_zk
}

cmd_status() {
	local s r ok=0 state http tcp inter
	if zk_pid >/dev/null && [ "$(py zk-mode "$(zk_port)" 2>/dev/null)" = standalone ]; then
		state=up
	else
		state=down
		ok=1
	fi
	echo "zookeeper 127.0.0.1:$(zk_port) $state"
	while read -r s r; do
		read -r http tcp inter <<<"$(node_ports "$s" "$r")"
		if node_pid "$s" "$r" >/dev/null &&
			[ "$(py query "$http" "SELECT 1" 2>/dev/null)" = 1 ]; then
			state=up
		else
			state=down
			ok=1
		fi
		echo "$(node_line "$s" "$r") $state"
	done < <(node_list)
	return "$ok"
}

cmd_sql() {
	local http tcp inter
	read -r http tcp inter <<<"$(node_ports "$1" "$2")"
	shift 2
	py query "$http" "$@"
}

# --- main ----------------------------------------------------------------------------------
[ $# -ge 2 ] || usage
cmd=$1
case $cmd in
start) [ $# -le 4 ] || usage ;;
stop | status | add-shard | stop-zk | kill-zk | start-zk) [ $# -eq 2 ] || usage ;;
stop-node | kill-node | start-node) [ $# -eq 4 ] || usage ;;
sql) [ $# -eq 4 ] || [ $# -eq 5 ] || usage ;;
_watchdog) [ $# -eq 3 ] || usage ;;
*) usage ;;
esac
case $cmd in
start) mkdir -p "$2" ;;
stop) [ -d "$2" ] || exit 0 ;;
*) [ -d "$2" ] || die "no cluster in $2" ;;
esac
DIR=$(cd "$2" && pwd)
case $cmd in
start | stop | _watchdog) ;;
*) conf >/dev/null ;;
esac
case $cmd in
start) cmd_start "${3:-}" "${4:-}" ;;
stop) cmd_stop ;;
status) cmd_status ;;
add-shard) cmd_add_shard ;;
start-node) cmd_start_node "$3" "$4" ;;
stop-node) node_ports "$3" "$4" >/dev/null && stop_node "$3" "$4" ;;
kill-node) node_ports "$3" "$4" >/dev/null && stop_node "$3" "$4" KILL ;;
start-zk) cmd_start_zk ;;
stop-zk) stop_zk ;;
kill-zk) stop_zk KILL ;;
sql) cmd_sql "$3" "$4" "${@:5}" ;;
_watchdog) cmd_watchdog "$3" ;;
esac
