{{/* The chart name. */}}
{{- define "mr-token-sidecar.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The resource name prefix: the release name, with the chart name unless it already holds it. */}}
{{- define "mr-token-sidecar.fullname" -}}
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

{{- define "mr-token-sidecar.webhookName" -}}
{{- printf "%s-webhook" (include "mr-token-sidecar.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mr-token-sidecar.tlsSecretName" -}}
{{- printf "%s-tls" (include "mr-token-sidecar.webhookName" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mr-token-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mr-token-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{/* The labels of every object but the selector's. */}}
{{- define "mr-token-sidecar.metaLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "mr-token-sidecar.labels" -}}
{{ include "mr-token-sidecar.selectorLabels" . }}
{{ include "mr-token-sidecar.metaLabels" . }}
{{- end }}

{{/* The `helm test` pod's labels: its own component, so that no selector of the webhook's (its
Service, PodDisruptionBudget, NetworkPolicy) takes it for a webhook pod. */}}
{{- define "mr-token-sidecar.checkSelectorLabels" -}}
app.kubernetes.io/name: {{ include "mr-token-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook-check
{{- end }}

{{- define "mr-token-sidecar.checkLabels" -}}
{{ include "mr-token-sidecar.checkSelectorLabels" . }}
{{ include "mr-token-sidecar.metaLabels" . }}
{{- end }}

{{/* An object's annotations, commonAnnotations and its own (which win), as an `annotations:` block,
or nothing. Called with (list $root $own). */}}
{{- define "mr-token-sidecar.annotations" -}}
{{- $root := index . 0 }}
{{- $all := merge (deepCopy (index . 1 | default dict)) (deepCopy ($root.Values.commonAnnotations | default dict)) }}
{{- with $all }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}, defaulting the tag to appVersion. */}}
{{- define "mr-token-sidecar.imageRef" -}}
{{- $image := index . 0 }}{{- $root := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{- define "mr-token-sidecar.image" -}}
{{- include "mr-token-sidecar.imageRef" (list .Values.image .) }}
{{- end }}

{{- define "mr-token-sidecar.sidecarImage" -}}
{{- if .Values.sidecar.image.repository }}
{{- include "mr-token-sidecar.imageRef" (list .Values.sidecar.image .) }}
{{- else }}
{{- include "mr-token-sidecar.image" . }}
{{- end }}
{{- end }}
