// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// validate: checks Grafana dashboards (dashboards/*.json) with Grafana's foundation SDK, the
// way tests/integration/test_dashboards.py runs it: each file is unmarshalled strictly (an
// unknown key, a wrong type or a key of the wrong case is an error) into the SDK's dashboard,
// its panels' options through the core panel plugins' types and its targets through the
// datasources' dataquery types (clickhouse.go adds the ClickHouse plugin's), then Validate()d.
//
// The SDK's strict unmarshalers also want fields that Grafana fills in with defaults when it
// loads a dashboard; those "required field is missing" errors, and only those listed in
// defaulted below, are ignored.
//
// Usage: validate FILE.json...   exit 0: all valid; 1: errors, one line each on stderr,
// "FILE: panel N "TITLE": PATH: MESSAGE"; 2: usage or unreadable file.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

const missing = "required field is missing from input"

// Fields Grafana fills in when it loads a dashboard (its panel plugins' defaults, and the
// variables' current value, which it picks from the options), by panel type, the path after
// "panels[N]."; "" for paths outside panels. Anchored: a field missing anywhere else is an error.
var defaulted = map[string]*regexp.Regexp{
	// percentChangeColorMode: "standard"
	"stat": regexp.MustCompile(`^options\.percentChangeColorMode$`),
	// frameIndex: 0, the first frame
	"table": regexp.MustCompile(`^options\.frameIndex$`),
	// legend.calcs: [], orientation: "auto" (PieChartPanel's defaults)
	"piechart": regexp.MustCompile(`^options\.(legend\.calcs|orientation)$`),
	"":         regexp.MustCompile(`^templating\.list\[\d+\]\.current\.(text|value)$`),
}

var panelPath = regexp.MustCompile(`^panels\[(\d+)\]\.`)

// Validate() names a panel's fields "panels[N].Panel.FIELD" (through PanelOrRowPanel), the
// strict unmarshal "panels[N].FIELD": one spelling for both.
var throughUnion = regexp.MustCompile(`^(panels\[\d+\]\.)Panel\.`)

type problem struct {
	path, message string
}

func flatten(err error) []problem {
	var list cog.BuildErrors
	if errors.As(err, &list) {
		out := make([]problem, 0, len(list))
		for _, e := range list {
			out = append(out, problem{e.Path, e.Message})
		}
		return out
	}
	var one *cog.BuildError
	if errors.As(err, &one) {
		return []problem{{one.Path, one.Message}}
	}
	return []problem{{"", err.Error()}}
}

func ignored(p problem, panels map[int]panelInfo) bool {
	if p.message != missing {
		return false
	}
	path := strings.TrimPrefix(p.path, "Dashboard.")
	kind := ""
	if m := panelPath.FindStringSubmatch(path); m != nil {
		i, _ := strconv.Atoi(m[1])
		kind = panels[i].kind
		if kind == "" {
			return false
		}
		path = strings.TrimPrefix(path, m[0])
	}
	re, ok := defaulted[kind]
	return ok && re.MatchString(path)
}

type panelInfo struct {
	title, kind string
}

// panelInfos: panel index -> title and type, from the file as written (errors name their panel).
func panelInfos(raw []byte) map[int]panelInfo {
	var doc struct {
		Panels []map[string]json.RawMessage `json:"panels"`
	}
	out := map[int]panelInfo{}
	if json.Unmarshal(raw, &doc) == nil {
		for i, p := range doc.Panels {
			var info panelInfo
			// exact keys only: a "Type" is not the panel's type
			_ = json.Unmarshal(p["title"], &info.title)
			_ = json.Unmarshal(p["type"], &info.kind)
			out[i] = info
		}
	}
	return out
}

func describe(file string, panels map[int]panelInfo, p problem) string {
	path := strings.TrimPrefix(p.path, "Dashboard.")
	if m := panelPath.FindStringSubmatch(path); m != nil {
		i, _ := strconv.Atoi(m[1])
		return fmt.Sprintf("%s: panel %d %q: %s: %s", file, i, panels[i].title,
			strings.TrimPrefix(path, m[0]), p.message)
	}
	if path == "" {
		return fmt.Sprintf("%s: %s", file, p.message)
	}
	return fmt.Sprintf("%s: %s: %s", file, path, p.message)
}

func check(file string) ([]string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	panels := panelInfos(raw)
	var out []string
	report := func(err error, prefix string) {
		for _, p := range flatten(err) {
			if prefix != "" {
				p.path = prefix + "." + p.path
			}
			p.path = strings.TrimPrefix(p.path, "Dashboard.")
			p.path = throughUnion.ReplaceAllString(p.path, "$1")
			if !ignored(p, panels) {
				out = append(out, describe(file, panels, p))
			}
		}
	}
	var strict dashboard.Dashboard
	if err := strict.UnmarshalJSONStrict(raw); err != nil {
		report(err, "")
	}
	// A panel with any strict error (even an ignored one) is left out of the strict result:
	// Validate() runs on the lenient one, which must hold every panel and target.
	var d dashboard.Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		// a wrong type fails both; the strict unmarshal named its field already
		if len(out) == 0 {
			report(err, "")
		}
		return out, nil
	}
	var counts struct {
		Panels []struct {
			Targets []json.RawMessage `json:"targets"`
		} `json:"panels"`
	}
	_ = json.Unmarshal(raw, &counts)
	if len(d.Panels) != len(counts.Panels) {
		out = append(out, fmt.Sprintf("%s: %d panels read of %d", file, len(d.Panels),
			len(counts.Panels)))
	}
	for i, p := range d.Panels {
		if i < len(counts.Panels) && p.Panel != nil &&
			len(p.Panel.Targets) != len(counts.Panels[i].Targets) {
			out = append(out, describe(file, panels, problem{"panels[" + strconv.Itoa(i) +
				"].targets", fmt.Sprintf("%d targets read of %d", len(p.Panel.Targets),
				len(counts.Panels[i].Targets))}))
		}
	}
	if err := d.Validate(); err != nil {
		report(err, "")
	}
	// Panel options are typed by their plugin but not part of the dashboard's Validate().
	for i, p := range d.Panels {
		if p.Panel == nil {
			continue
		}
		if v, ok := p.Panel.Options.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				report(err, "panels["+strconv.Itoa(i)+"].options")
			}
		}
	}
	// The SDK reads a panel's fieldConfig leniently but for its plugin's "custom" part: read
	// all of it strictly too.
	var doc struct {
		Panels []map[string]json.RawMessage `json:"panels"`
	}
	if json.Unmarshal(raw, &doc) == nil {
		for i, p := range doc.Panels {
			if fc, ok := p["fieldConfig"]; ok && string(fc) != "null" {
				var source dashboard.FieldConfigSource
				if err := source.UnmarshalJSONStrict(fc); err != nil {
					report(err, "panels["+strconv.Itoa(i)+"].fieldConfig")
				}
			}
		}
	}
	if len(d.Panels) == 0 {
		out = append(out, file+": no panels")
	}
	return out, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: validate FILE.json...")
		os.Exit(2)
	}
	plugins.RegisterDefaultPlugins()
	cog.NewRuntime().RegisterDataqueryVariant(clickhouseVariant())
	failed := false
	for _, file := range os.Args[1:] {
		problems, err := check(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
			os.Exit(2)
		}
		for _, line := range problems {
			fmt.Fprintln(os.Stderr, line)
		}
		if len(problems) > 0 {
			failed = true
		} else {
			fmt.Printf("%s: valid\n", file)
		}
	}
	if failed {
		os.Exit(1)
	}
}
