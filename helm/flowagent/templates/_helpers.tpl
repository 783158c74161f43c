{{/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */}}
{{/* Names, labels and the values that several templates share. */}}

{{- define "flowagent.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "flowagent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: "agent" or "collector". */}}
{{- define "flowagent.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "flowagent.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* The Secret holding kafka.properties, or "" when there is none. */}}
{{- define "flowagent.kafkaSecret" -}}
{{- if .Values.kafka.config.existingSecret -}}
{{- .Values.kafka.config.existingSecret -}}
{{- else if .Values.kafka.config.properties -}}
{{- printf "%s-kafka" (include "flowagent.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the ClickHouse password, or "" when there is none. */}}
{{- define "flowagent.passwordSecret" -}}
{{- if .Values.collector.password.existingSecret -}}
{{- .Values.collector.password.existingSecret -}}
{{- else if .Values.collector.password.value -}}
{{- printf "%s-clickhouse" (include "flowagent.fullname" .) -}}
{{- end -}}
{{- end -}}
