{{/* Names, labels and shared rule lists for the Tether chart. */}}

{{- define "tether.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tether.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tether.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tether.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tether.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tether.labels" -}}
helm.sh/chart: {{ include "tether.chart" . }}
{{ include "tether.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tether
{{- end }}

{{- define "tether.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tether.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tether.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The operator's own permissions, the same in a ClusterRole or a per-namespace Role:
its CRDs and their status and finalizers, Secrets (read), Events (write).
*/}}
{{- define "tether.operatorRules" -}}
- apiGroups: ["tether.dev"]
  resources: ["applications", "repositories"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["tether.dev"]
  resources: ["applications/status", "repositories/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["tether.dev"]
  resources: ["applications/finalizers", "repositories/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.rbac.impersonate }}
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["impersonate"]
{{- end }}
{{- end }}

{{/* Fail early on settings that cannot work together. */}}
{{- define "tether.validate" -}}
{{- if and .Values.sharding.enabled .Values.leaderElection.enabled }}
{{- fail "sharding.enabled and leaderElection.enabled exclude each other: shards share the apps, a leader takes them all" }}
{{- end }}
{{- if and .Values.sharding.enabled (ge (int .Values.sharding.renewPeriodSeconds) (int .Values.sharding.leaseDurationSeconds)) }}
{{- fail "sharding.renewPeriodSeconds must be shorter than sharding.leaseDurationSeconds" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) (not .Values.sharding.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true, or several replicas would reconcile the same apps" }}
{{- end }}
{{- if not (has .Values.operator.logFormat (list "text" "json")) }}
{{- fail "operator.logFormat must be text or json" }}
{{- end }}
{{- if not (has .Values.operator.logLevel (list "debug" "info" "warning" "error")) }}
{{- fail "operator.logLevel must be debug, info, warning or error" }}
{{- end }}
{{- if and .Values.webhook.ingress.enabled (not .Values.webhook.enabled) }}
{{- fail "webhook.ingress.enabled needs webhook.enabled=true" }}
{{- end }}
{{- if and .Values.webhook.ingress.enabled (not .Values.webhook.ingress.host) }}
{{- fail "webhook.ingress.host is required with webhook.ingress.enabled" }}
{{- end }}
{{- if and .Values.webhook.enabled (eq (int .Values.webhook.port) (int .Values.operator.metricsPort)) }}
{{- fail "webhook.port must differ from operator.metricsPort: webhooks have their own port" }}
{{- end }}
{{- end }}
