{{/* Names ---------------------------------------------------------------- */}}

{{- define "spooled.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-spooled, or the release name alone when it already says spooled. */}}
{{- define "spooled.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Deployment/Service name of one component. Args: root, name. */}}
{{- define "spooled.componentName" -}}
{{- printf "%s-%s" (include "spooled.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "spooled.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "spooled.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "spooled.generatedSecretName" -}}
{{- printf "%s-generated" (include "spooled.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels --------------------------------------------------------------- */}}

{{- define "spooled.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spooled.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "spooled.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "spooled.selectorLabels" . }}
app.kubernetes.io/part-of: spooled
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Args: root, name. */}}
{{- define "spooled.componentSelectorLabels" -}}
{{ include "spooled.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "spooled.componentLabels" -}}
{{ include "spooled.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Components ----------------------------------------------------------- */}}

{{/*
One component's settings: componentDefaults deep-merged with its own entry.
Args: root, name. Use as: $c := include "spooled.component" (dict ...) | fromYaml
*/}}
{{- define "spooled.component" -}}
{{- $own := index .root.Values.components .name -}}
{{- $c := mergeOverwrite (deepCopy .root.Values.componentDefaults) (deepCopy $own) -}}
{{- toYaml $c -}}
{{- end -}}

{{/* The names of the enabled components, sorted, as a YAML list. */}}
{{- define "spooled.enabledComponents" -}}
{{- $names := list -}}
{{- range $name, $c := .Values.components -}}
{{- if $c.enabled -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- toYaml (sortAlpha $names) -}}
{{- end -}}

{{/* Args: root, c. */}}
{{- define "spooled.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- $repo := .c.image.repository -}}
{{- $tag := .c.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) $repo $tag -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/* Secrets and infrastructure ------------------------------------------- */}}

{{/*
Where each `uses` entry comes from: env name, its values block, and whether a
plain value (URL without credentials) may go into the pod spec.
*/}}
{{- define "spooled.sources" -}}
database: {env: DATABASE_URL, values: database, plain: false}
internalToken: {env: SPOOLED_INTERNAL_TOKEN, values: secrets.internalToken, plain: false}
jwtSecret: {env: JWT_SECRET, values: secrets.jwtSecret, plain: false}
adminApiKey: {env: ADMIN_API_KEY, values: secrets.adminApiKey, plain: false}
nats: {env: NATS_URL, values: nats, plain: true}
redis: {env: REDIS_URL, values: redis, plain: true}
{{- end -}}

{{/* The values block named by a dotted path ("secrets.jwtSecret"). Args: root, path. */}}
{{- define "spooled.valuesAt" -}}
{{- $v := .root.Values -}}
{{- range splitList "." .path -}}
{{- $v = index $v . -}}
{{- end -}}
{{- toYaml $v -}}
{{- end -}}

{{/* Whether the chart must generate its Secret (some secret has no existingSecret). */}}
{{- define "spooled.needsGeneratedSecret" -}}
{{- $root := . -}}
{{- range $use, $src := include "spooled.sources" . | fromYaml -}}
{{- $cfg := include "spooled.valuesAt" (dict "root" $root "path" $src.values) | fromYaml -}}
{{- if and (not $src.plain) (not $cfg.existingSecret) -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* Env entries for one component's `uses`. Args: root, c. */}}
{{- define "spooled.usesEnv" -}}
{{- $root := .root -}}
{{- $sources := include "spooled.sources" $root | fromYaml -}}
{{- range .c.uses }}
{{- $src := index $sources . -}}
{{- if not $src }}
{{- fail (printf "uses: unknown entry %q (known: %s)" . (keys $sources | sortAlpha | join ", ")) -}}
{{- end }}
{{- $cfg := include "spooled.valuesAt" (dict "root" $root "path" $src.values) | fromYaml -}}
{{- if $cfg.existingSecret }}
- name: {{ $src.env }}
  valueFrom:
    secretKeyRef:
      name: {{ $cfg.existingSecret }}
      key: {{ $cfg.existingSecretKey }}
{{- else if $src.plain }}
{{- if $cfg.url }}
- name: {{ $src.env }}
  value: {{ $cfg.url | quote }}
{{- end }}
{{- else }}
- name: {{ $src.env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "spooled.generatedSecretName" $root }}
      key: {{ $src.env }}
{{- end }}
{{- if eq . "database" }}
- name: DATABASE_MAX_CONNECTIONS
  value: {{ $root.Values.database.maxConnections | quote }}
- name: DATABASE_MIN_CONNECTIONS
  value: {{ $root.Values.database.minConnections | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The whole environment of one component's container (service and migration
Job alike: `migrate` runs the same settings checks as `serve`). Args: root, name, c.
*/}}
{{- define "spooled.env" -}}
{{- $root := .root -}}
- name: SPOOLED_ENV
  value: {{ $root.Values.environment | quote }}
- name: LOG_LEVEL
  value: {{ $root.Values.logging.level | quote }}
- name: JSON_LOGS
  value: {{ $root.Values.logging.json | quote }}
{{- range $portName, $p := .c.ports }}
{{- if $p.env }}
- name: {{ $p.env }}
  value: {{ $p.port | quote }}
{{- end }}
{{- end }}
{{- range $envName, $to := .c.connectsTo }}
{{- $target := index $root.Values.components $to.component -}}
{{- if and $target $target.enabled }}
{{- $port := index $target.ports $to.port -}}
{{- if not $port }}
{{- fail (printf "components.%s.connectsTo.%s: component %s has no port %q" $.name $envName $to.component $to.port) -}}
{{- end }}
{{- $address := printf "%s:%v" (include "spooled.componentName" (dict "root" $root "name" $to.component)) $port.port }}
- name: {{ $envName }}
  value: {{ ternary (printf "%s://%s" $to.scheme $address) $address (not (empty $to.scheme)) | quote }}
{{- else if not $to.optional }}
{{- fail (printf "components.%s.connectsTo.%s needs component %s enabled" $.name $envName $to.component) -}}
{{- end }}
{{- end }}
{{- include "spooled.usesEnv" (dict "root" $root "c" .c) }}
{{- with $root.Values.otel }}
{{- if .endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .endpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ .sampler | quote }}
{{- if contains "traceidratio" .sampler }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .samplerRatio | toString | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- range $k, $v := .c.env }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- with .c.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level bits shared by Deployments and migration Jobs. Args: root. */}}
{{- define "spooled.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
# Kubernetes' docker-link variables (<SVC>_PORT=tcp://...) could shadow settings.
enableServiceLinks: false
automountServiceAccountToken: false
{{- end -}}

{{- define "spooled.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}

{{- define "spooled.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}
