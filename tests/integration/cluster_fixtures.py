# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What the cluster tests share: the real servers (tests/cluster/cluster.sh, Debian's
clickhouse-server 18.16 from `make deps`, ZooKeeper), a node's HTTP interface, polling."""
import os
import pathlib
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import BUILD, ROOT

CLUSTER_SH = ROOT / "tests" / "cluster" / "cluster.sh"
SERVER = pathlib.Path(os.environ.get("CLICKHOUSE_SERVER", str(BUILD / "clickhouse" /
                                                              "clickhouse-server")))
JAVA = os.environ.get("JAVA") or (os.path.join(os.environ["JAVA_HOME"], "bin", "java")
                                  if os.environ.get("JAVA_HOME") else "java")
ZOOKEEPER_CLASSPATH = os.environ.get("ZOOKEEPER_CLASSPATH", "/usr/share/java/zookeeper.jar")
WAIT = 60           # generous deadline of every wait (seconds)


def require_cluster():
    """Fails (never skips) when the cluster cannot run here, naming what is missing."""
    missing = []
    if not (SERVER.is_file() and os.access(SERVER, os.X_OK)):
        missing.append(f"no ClickHouse server at {SERVER}")
    if not shutil.which(JAVA):
        missing.append(f"no java ({JAVA})")
    for jar in ZOOKEEPER_CLASSPATH.split(":"):
        if not os.path.isfile(jar):
            missing.append(f"no ZooKeeper jar at {jar}")
    if missing:
        pytest.fail("; ".join(missing) + ": run make deps", pytrace=False)


def cluster_sh(*args, env=None, timeout=180):
    """cluster.sh ARGS..., its CompletedProcess (text)."""
    full_env = dict(os.environ, CLICKHOUSE_SERVER=str(SERVER), JAVA=JAVA,
                    ZOOKEEPER_CLASSPATH=ZOOKEEPER_CLASSPATH)
    full_env.update(env or {})
    return subprocess.run([str(CLUSTER_SH), *map(str, args)], env=full_env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def parse_nodes(text):
    """{(shard, replica): (http_url, tcp_port)} of `SHARD REPLICA URL TCP` lines."""
    nodes = {}
    for line in text.splitlines():
        shard, replica, url, tcp = line.split()
        nodes[(int(shard), int(replica))] = (url, int(tcp))
    return nodes


def node_http(url, query, data=None, timeout=60):
    """(HTTP status, body) of a query on a node; data: the POST body after the query (then the
    query goes in the URL)."""
    if data is None:
        request = urllib.request.Request(url, data=query.encode(), method="POST")
    else:
        request = urllib.request.Request(url + "?" + urllib.parse.urlencode({"query": query}),
                                         data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_until(what, check, deadline=WAIT, interval=0.2):
    """Polls check() until it returns something true (or (true, detail)); fails with what and
    the last value (or detail)."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        ok, detail = value if isinstance(value, tuple) else (value, value)
        if ok:
            return value
        if time.monotonic() > end:
            pytest.fail(f"{what}: not after {deadline}s (last: {detail!r})", pytrace=False)
        time.sleep(interval)
