// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// A clickhouse-go v2 client (HTTP protocol) against flowcollector's read-only endpoint, for
// tests/integration/test_http_endpoint.py: it prints one JSON object of what it read and of
// the errors it got, for the test to compare with the truth.
//
// Usage: clickhouse_go HOST:PORT USER PASSWORD_FILE
//
//	clickhouse_go --queries FILE HOST:PORT USER PASSWORD_FILE
//
// The second form runs each query of FILE (a JSON list of strings) as Grafana's ClickHouse
// datasource would, through clickhouse-go, and prints for each its columns, their types and
// its rows as text (for tests/integration/test_dashboards.py).
//
//	clickhouse_go --bench FILE RUNS SECONDS CLIENTS HOST:PORT USER PASSWORD_FILE
//
// The third, for `make bench` (tests/bench/store.py): each query RUNS times in a row, its
// times in milliseconds, then CLIENTS connections asking the queries in turn for SECONDS:
// how many answers a second, and how many failed.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
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

type result struct {
	Columns []string   `json:"columns"`
	Types   []string   `json:"types"`
	Rows    [][]string `json:"rows"`
	Error   string     `json:"error,omitempty"`
}

// text writes a scanned value as ClickHouse's TabSeparated would.
func text(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05")
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case net.IP:
		return x.String()
	case string:
		return x
	}
	r := reflect.ValueOf(v)
	if r.Kind() == reflect.Pointer {
		if r.IsNil() {
			return "\\N"
		}
		return text(r.Elem().Interface())
	}
	return fmt.Sprint(v)
}

func runQueries(conn clickhouse.Conn, file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		fail("queries", err)
	}
	var queries []string
	if err := json.Unmarshal(raw, &queries); err != nil {
		fail("queries", err)
	}
	ctx := context.Background()
	results := []result{}
	for _, sql := range queries {
		var res result
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			res.Error = err.Error()
			results = append(results, res)
			continue
		}
		types := rows.ColumnTypes()
		for _, t := range types {
			res.Columns = append(res.Columns, t.Name())
			res.Types = append(res.Types, t.DatabaseTypeName())
		}
		res.Rows = [][]string{}
		for rows.Next() {
			values := make([]any, len(types))
			for i, t := range types {
				values[i] = reflect.New(t.ScanType()).Interface()
			}
			if err := rows.Scan(values...); err != nil {
				fail("scan", err)
			}
			line := make([]string, len(values))
			for i, v := range values {
				line[i] = text(reflect.ValueOf(v).Elem().Interface())
			}
			res.Rows = append(res.Rows, line)
		}
		if err := rows.Err(); err != nil {
			res.Error = err.Error()
		}
		rows.Close()
		results = append(results, res)
	}
	json.NewEncoder(os.Stdout).Encode(results)
}

type benchResult struct {
	Milliseconds [][]float64 `json:"ms"`
	Answers      int         `json:"answers"`
	Failures     int         `json:"failures"`
	FirstFailure string      `json:"first_failure,omitempty"`
	Seconds      float64     `json:"seconds"`
}

// drain reads a query's rows to the end, as a client that shows them would.
func drain(conn clickhouse.Conn, sql string) error {
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		return err
	}
	types := rows.ColumnTypes()
	values := make([]any, len(types))
	for i, t := range types {
		values[i] = reflect.New(t.ScanType()).Interface()
	}
	for rows.Next() {
		if err := rows.Scan(values...); err != nil {
			rows.Close()
			return err
		}
	}
	err = rows.Err()
	rows.Close()
	return err
}

func runBench(file string, runs, seconds, clients int, addr, user, password string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		fail("queries", err)
	}
	var queries []string
	if err := json.Unmarshal(raw, &queries); err != nil {
		fail("queries", err)
	}
	conn, err := open(addr, user, password)
	if err != nil {
		fail("open", err)
	}
	var out benchResult
	for _, sql := range queries {
		var times []float64
		for r := 0; r < runs; r++ {
			start := time.Now()
			if err := drain(conn, sql); err != nil {
				fail("query", err)
			}
			times = append(times, float64(time.Since(start).Microseconds())/1000)
		}
		out.Milliseconds = append(out.Milliseconds, times)
	}
	conn.Close()
	type tally struct {
		answers, failures int
		first             string
	}
	done := make(chan tally)
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	start := time.Now()
	for c := 0; c < clients; c++ {
		go func(c int) {
			var t tally
			conn, err := open(addr, user, password)
			if err != nil {
				t.failures, t.first = 1, err.Error()
				done <- t
				return
			}
			for i := c; time.Now().Before(deadline); i++ {
				if err := drain(conn, queries[i%len(queries)]); err != nil {
					t.failures++
					if t.first == "" {
						t.first = err.Error()
					}
				} else {
					t.answers++
				}
			}
			conn.Close()
			done <- t
		}(c)
	}
	for c := 0; c < clients; c++ {
		t := <-done
		out.Answers += t.answers
		out.Failures += t.failures
		if out.FirstFailure == "" {
			out.FirstFailure = t.first
		}
	}
	out.Seconds = time.Since(start).Seconds()
	json.NewEncoder(os.Stdout).Encode(out)
}

func main() {
	if len(os.Args) == 9 && os.Args[1] == "--bench" {
		runs, err1 := strconv.Atoi(os.Args[3])
		seconds, err2 := strconv.Atoi(os.Args[4])
		clients, err3 := strconv.Atoi(os.Args[5])
		if err1 != nil || err2 != nil || err3 != nil || runs < 1 || seconds < 1 || clients < 1 {
			fmt.Fprintln(os.Stderr, "clickhouse_go --bench: RUNS, SECONDS and CLIENTS are positive numbers")
			os.Exit(2)
		}
		secret, err := os.ReadFile(os.Args[8])
		if err != nil {
			fail("password file", err)
		}
		runBench(os.Args[2], runs, seconds, clients, os.Args[6], os.Args[7],
			strings.SplitN(string(secret), "\n", 2)[0])
		return
	}
	if len(os.Args) == 6 && os.Args[1] == "--queries" {
		secret, err := os.ReadFile(os.Args[5])
		if err != nil {
			fail("password file", err)
		}
		conn, err := open(os.Args[3], os.Args[4], strings.SplitN(string(secret), "\n", 2)[0])
		if err != nil {
			fail("open", err)
		}
		runQueries(conn, os.Args[2])
		conn.Close()
		return
	}
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
