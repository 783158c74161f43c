// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// The target of a panel on the ClickHouse datasource (grafana-clickhouse-datasource, SQL
// editor), as a dataquery variant of the foundation SDK: the SDK has none for this plugin, so
// without it every ClickHouse target would pass unchecked, as an UnknownDataquery. The fields
// are those the plugin (4.x) stores for a query written in its SQL editor; keys compare
// case-sensitively, as the SDK's own strict unmarshalers do.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

const clickhouseType = "grafana-clickhouse-datasource"

// The plugin's Format enum: what the response is turned into.
const (
	formatTimeSeries = 0
	formatTable      = 1
	formatLogs       = 2
	formatTraces     = 3
	formatAuto       = 4
)

type ClickHouseQuery struct {
	RefId         string                `json:"refId"`
	Hide          *bool                 `json:"hide,omitempty"`
	Datasource    *common.DataSourceRef `json:"datasource,omitempty"`
	EditorType    string                `json:"editorType"`
	RawSql        string                `json:"rawSql"`
	Format        int                   `json:"format"`
	QueryType     string                `json:"queryType,omitempty"`
	PluginVersion string                `json:"pluginVersion,omitempty"`
	Meta          map[string]any        `json:"meta,omitempty"`
}

func (q ClickHouseQuery) ImplementsDataqueryVariant() {}

func (q ClickHouseQuery) DataqueryType() string { return clickhouseType }

func (q ClickHouseQuery) Equals(other variants.Dataquery) bool {
	o, ok := other.(*ClickHouseQuery)
	if !ok {
		return false
	}
	a, _ := json.Marshal(q)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}

// Validate checks what the plugin needs to run the query as its panel shows it.
func (q ClickHouseQuery) Validate() error {
	var errs cog.BuildErrors
	add := func(path, format string, args ...any) {
		errs = append(errs, &cog.BuildError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if q.RefId == "" {
		add("refId", "must not be empty")
	}
	if q.EditorType != "sql" {
		add("editorType", "%q: only the SQL editor's queries are checked (want \"sql\")",
			q.EditorType)
	}
	if strings.TrimSpace(q.RawSql) == "" {
		add("rawSql", "must not be empty")
	}
	if q.Format < formatTimeSeries || q.Format > formatAuto {
		add("format", "%d is not a format of the plugin (0 to 4)", q.Format)
	}
	want := map[string]int{"timeseries": formatTimeSeries, "table": formatTable,
		"logs": formatLogs, "traces": formatTraces}
	if q.QueryType != "" {
		if f, ok := want[q.QueryType]; !ok {
			add("queryType", "%q is not one of timeseries, table, logs, traces", q.QueryType)
		} else if f != q.Format {
			add("format", "%d does not match queryType %q (%d)", q.Format, q.QueryType, f)
		}
	}
	if q.Datasource != nil {
		if q.Datasource.Type == nil || *q.Datasource.Type != clickhouseType {
			add("datasource.type", "must be %q", clickhouseType)
		}
		if err := q.Datasource.Validate(); err != nil {
			errs = append(errs, cog.MakeBuildErrors("datasource", err)...)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// UnmarshalJSONStrict fails on a missing required field, a field of the wrong type and a
// field the plugin does not know, whatever its case.
func (q *ClickHouseQuery) UnmarshalJSONStrict(raw []byte) error {
	fields := make(map[string]json.RawMessage)
	if err := json.Unmarshal(raw, &fields); err != nil {
		return err
	}
	var errs cog.BuildErrors
	field := func(name string, required bool, into any) {
		value, ok := fields[name]
		delete(fields, name)
		if !ok || string(value) == "null" {
			if required {
				errs = append(errs, cog.MakeBuildErrors(name,
					errors.New("required field is missing from input"))...)
			}
			return
		}
		if err := json.Unmarshal(value, into); err != nil {
			errs = append(errs, cog.MakeBuildErrors(name, err)...)
		}
	}
	field("refId", true, &q.RefId)
	field("hide", false, &q.Hide)
	field("editorType", true, &q.EditorType)
	field("rawSql", true, &q.RawSql)
	field("format", true, &q.Format)
	field("queryType", false, &q.QueryType)
	field("pluginVersion", false, &q.PluginVersion)
	field("meta", false, &q.Meta)
	if value, ok := fields["datasource"]; ok {
		delete(fields, "datasource")
		q.Datasource = &common.DataSourceRef{}
		if err := q.Datasource.UnmarshalJSONStrict(value); err != nil {
			errs = append(errs, cog.MakeBuildErrors("datasource", err)...)
		}
	}
	unknown := make([]string, 0, len(fields))
	for name := range fields {
		unknown = append(unknown, name)
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		errs = append(errs, cog.MakeBuildErrors("ClickHouseQuery",
			fmt.Errorf("unexpected field '%s'", name))...)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func clickhouseVariant() variants.DataqueryConfig {
	return variants.DataqueryConfig{
		Identifier: clickhouseType,
		DataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
			q := &ClickHouseQuery{}
			if err := json.Unmarshal(raw, q); err != nil {
				return nil, err
			}
			return q, nil
		},
		StrictDataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
			q := &ClickHouseQuery{}
			if err := q.UnmarshalJSONStrict(raw); err != nil {
				return nil, err
			}
			return q, nil
		},
	}
}
