{{/* Names, labels and the checks every render runs. */}}

{{- define "monitors-mcp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "monitors-mcp.fullname" -}}
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

{{- define "monitors-mcp.gatewayName" -}}
{{- printf "%s-gateway" (include "monitors-mcp.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "monitors-mcp.workerName" -}}
{{- printf "%s-worker" (include "monitors-mcp.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "monitors-mcp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "monitors-mcp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "monitors-mcp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "monitors-mcp.labels" -}}
helm.sh/chart: {{ include "monitors-mcp.chart" . }}
{{ include "monitors-mcp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: monitors-mcp
{{- end }}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "monitors-mcp.componentSelectorLabels" -}}
{{ include "monitors-mcp.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "monitors-mcp.componentLabels" -}}
{{ include "monitors-mcp.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "monitors-mcp.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "monitors-mcp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "monitors-mcp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "monitors-mcp.configMapName" -}}
{{- include "monitors-mcp.fullname" . }}
{{- end }}

{{/* The Secret the pods read: the operator's own, or the chart's. */}}
{{- define "monitors-mcp.secretName" -}}
{{- default (include "monitors-mcp.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{- define "monitors-mcp.listen" -}}
{{- $addr := .addr }}
{{- if contains ":" $addr }}
{{- $addr = printf "[%s]" (trimAll "[]" $addr) }}
{{- end }}
{{- printf "%s:%v" $addr .port }}
{{- end }}

{{/*
MONITORS_ALLOWED_HOSTS: what the gateway allows by default (loopback and the
public URL's host) plus the ingress hosts and config.allowedHosts. Set
explicitly, the gateway takes exactly this list, so the defaults are repeated.
*/}}
{{- define "monitors-mcp.allowedHosts" -}}
{{- $hosts := list "localhost" "127.0.0.1" "::1" }}
{{- $public := urlParse .Values.config.publicUrl }}
{{- if $public.hostname }}
{{- $hosts = append $hosts $public.hostname }}
{{- end }}
{{- if .Values.ingress.enabled }}
{{- range .Values.ingress.hosts }}
{{- $hosts = append $hosts . }}
{{- end }}
{{- end }}
{{- $hosts = concat $hosts .Values.config.allowedHosts }}
{{- if has "*" .Values.config.allowedHosts }}
{{- "*" }}
{{- else }}
{{- $hosts | uniq | join "," }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by the workloads: call with (dict "ctx" $ "values" .Values.gateway). */}}
{{- define "monitors-mcp.podScheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Checksums that roll the pods when their configuration changes. */}}
{{- define "monitors-mcp.configChecksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.secret.existingSecret }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/*
The checks that stop a render, so that a bad install fails at `helm install`
rather than in a crash-looping pod. Included by the ConfigMap, which every
render has.
*/}}
{{- define "monitors-mcp.validate" -}}
{{- $public := required "config.publicUrl is required: the URL clients use, e.g. https://mcp.example.com" .Values.config.publicUrl }}
{{- if not (regexMatch "^https?://[^/]+" $public) }}
{{- fail (printf "config.publicUrl %q must be an absolute http:// or https:// URL" $public) }}
{{- end }}
{{- if not .Values.secret.existingSecret }}
{{- $db := required "secret.databaseUrl is required (mysql://user:password@host:3306/db), or set secret.existingSecret" .Values.secret.databaseUrl }}
{{- if not (regexMatch "^(mysql|mariadb)://" $db) }}
{{- fail "secret.databaseUrl must be a mysql:// or mariadb:// URL: SQLite cannot be shared by the gateway, the workers and the migration Job" }}
{{- end }}
{{- $key := required "secret.encryptionKey is required: 32 random bytes, base64 (openssl rand -base64 32), the same for every process; or set secret.existingSecret" .Values.secret.encryptionKey }}
{{- if not (regexMatch "^([A-Za-z0-9+/]{43}=|[A-Za-z0-9_-]{43}=?)$" $key) }}
{{- fail "secret.encryptionKey must be 32 bytes in base64 (44 characters, e.g. from openssl rand -base64 32)" }}
{{- end }}
{{- with .Values.secret.encryptionOldKeys }}
{{- range splitList "," . }}
{{- if not (regexMatch "^\\s*([A-Za-z0-9+/]{43}=|[A-Za-z0-9_-]{43}=?)\\s*$" .) }}
{{- fail "secret.encryptionOldKeys must be 32-byte base64 keys, comma-separated" }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.secret.redisUrl }}
{{- if not (hasPrefix "redis://" .) }}
{{- fail "secret.redisUrl must be a redis:// URL: the binaries' Redis client is built without TLS, so rediss:// fails when it connects" }}
{{- end }}
{{- end }}
{{- if and .Values.secret.influxToken .Values.config.influx.username }}
{{- fail "give either secret.influxToken or config.influx.username with secret.influxPassword, not both" }}
{{- end }}
{{- if and .Values.secret.influxPassword (not .Values.config.influx.username) }}
{{- fail "secret.influxPassword needs config.influx.username" }}
{{- end }}
{{- end }}
{{- with .Values.config.influx.url }}
{{- if not (hasPrefix "http://" .) }}
{{- fail "config.influx.url must be an http:// URL: the binaries have no TLS client for InfluxDB yet (reach it through a TLS-terminating proxy)" }}
{{- end }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) }}
{{- fail "ingress.hosts must name at least one host when ingress.enabled is true" }}
{{- end }}
{{- range $name, $_ := .Values.config.extraEnv }}
{{- if not (regexMatch "^MONITORS_[A-Z0-9_]+$" $name) }}
{{- fail (printf "config.extraEnv: %q is not a MONITORS_* variable" $name) }}
{{- end }}
{{- if has $name (list "MONITORS_DATABASE_URL" "MONITORS_ENCRYPTION_KEY" "MONITORS_ENCRYPTION_OLD_KEYS" "MONITORS_REDIS_URL" "MONITORS_INFLUX_TOKEN" "MONITORS_INFLUX_PASSWORD") }}
{{- fail (printf "config.extraEnv: %s is a secret; set it under secret (or in secret.existingSecret)" $name) }}
{{- end }}
{{- if has $name (list "MONITORS_PUBLIC_URL" "MONITORS_ALLOWED_HOSTS" "MONITORS_ALLOWED_ORIGINS" "MONITORS_SHARD_COUNT" "MONITORS_LEASE_TTL" "MONITORS_LOG_FORMAT" "MONITORS_LOG" "MONITORS_EGRESS_ALLOWLIST" "MONITORS_INFLUX_URL" "MONITORS_INFLUX_DATABASE" "MONITORS_INFLUX_USERNAME") }}
{{- fail (printf "config.extraEnv: %s has its own value under config" $name) }}
{{- end }}
{{- if has $name (list "MONITORS_LISTEN" "MONITORS_METRICS_LISTEN" "MONITORS_WORKER_ID" "MONITORS_EMBEDDED_WORKER" "MONITORS_AUTO_MIGRATE" "MONITORS_BOOTSTRAP_ADMIN" "MONITORS_CONFIG" "MONITORS_ENCRYPTION_KEY_FILE") }}
{{- fail (printf "config.extraEnv: %s is set by the chart itself" $name) }}
{{- end }}
{{- end }}
{{- end }}
