// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// A clickhouse-go v2 client (HTTP protocol) against flowcollector's read-only endpoint, for
// tests/integration/test_http_endpoint.py: it prints one JSON object of what it read and of
// the errors it got, for the test to compare with the truth.
//
// Usage: clickhouse_go HOST:PORT USER PASSWORD_FILE
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

type report struct {
	ServerVersion string `json:"server_version"`
	Rows          uint64 `json:"rows"`
	Packets       uint64 `json:"packets"`
	Bytes         uint64 `json:"bytes"`
	FirstSeen     string `json:"first_seen"`
	Address       string `json:"address"`
	Agent         string `json:"agent"`
	Param         uint64 `json:"param"`
	Setting       string `json:"setting"`
	InsertError   string `json:"insert_error"`
	QueryError    string `json:"query_error"`
	AuthError     string `json:"auth_error"`
}

func open(addr, user, password string) (clickhouse.Conn, error) {
	return clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Protocol:    clickhouse.HTTP,
		Auth:        clickhouse.Auth{Username: user, Password: password},
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionGZIP},
		Settings:    clickhouse.Settings{"max_result_rows": 1000000},
		DialTimeout: 10 * time.Second,
	})
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "clickhouse_go: %s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: clickhouse_go HOST:PORT USER PASSWORD_FILE")
		os.Exit(2)
	}
	secret, err := os.ReadFile(os.Args[3])
	if err != nil {
		fail("password file", err)
	}
	password := strings.SplitN(string(secret), "\n", 2)[0]
	ctx := context.Background()
	var out report

	conn, err := open(os.Args[1], os.Args[2], password)
	if err != nil {
		fail("open", err)
	}
	version, err := conn.ServerVersion()
	if err != nil {
		fail("server version", err)
	}
	out.ServerVersion = version.String()

	row := conn.QueryRow(ctx, "SELECT count(), sum(packets), sum(bytes) FROM flows.raw")
	if err := row.Scan(&out.Rows, &out.Packets, &out.Bytes); err != nil {
		fail("totals", err)
	}
	var first time.Time
	var address net.IP
	row = conn.QueryRow(ctx, "SELECT toDateTime(min(first_seen)), argMin(src_addr, (first_seen, src_addr)), "+
		"toString(any(agent)) FROM flows.raw")
	if err := row.Scan(&first, &address, &out.Agent); err != nil {
		fail("typed columns", err)
	}
	out.FirstSeen = first.UTC().Format("2006-01-02 15:04:05")
	out.Address = address.String()

	params := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"a": "41"}))
	if err := conn.QueryRow(params, "SELECT {a:UInt32} + 1").Scan(&out.Param); err != nil {
		fail("query parameter", err)
	}
	settings := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_result_rows": 7}))
	if err := conn.QueryRow(settings, "SELECT toString(getSetting('max_result_rows'))").Scan(&out.Setting); err != nil {
		fail("setting", err)
	}

	if err := conn.Exec(ctx, "INSERT INTO flows.raw (agent) VALUES ('go')"); err != nil {
		out.InsertError = err.Error()
	}
	if err := conn.QueryRow(ctx, "SELECT * FROM flows.nosuch").Scan(); err != nil {
		out.QueryError = err.Error()
	}
	conn.Close()

	bad, err := open(os.Args[1], os.Args[2], password+"x")
	if err == nil {
		err = bad.Ping(ctx)
		bad.Close()
	}
	if err != nil {
		out.AuthError = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
