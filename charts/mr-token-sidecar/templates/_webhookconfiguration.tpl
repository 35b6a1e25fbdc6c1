{{/*
The MutatingWebhookConfiguration, rendered by tls-secret.yaml (with the chart's CA) or by
certificate.yaml (cert-manager injects the CA). Only pods labelled
mixedreality.azure.com/inject=true are sent to the webhook; the chart's own namespace and
kube-system never are, so the webhook cannot block its own pods.
*/}}
{{- define "mr-token-sidecar.webhookConfiguration" -}}
{{- $root := .root }}
{{- $service := include "mr-token-sidecar.webhookName" $root }}
{{- $selector := $root.Values.webhook.namespaceSelector }}
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: {{ include "mr-token-sidecar.fullname" $root }}
  labels:
    {{- include "mr-token-sidecar.labels" $root | nindent 4 }}
  {{- $annotations := deepCopy $root.Values.webhook.configurationAnnotations }}
  {{- if and $root.Values.tls.certManager.enabled (not $root.Values.tls.existingSecret) }}
  {{- $_ := set $annotations "cert-manager.io/inject-ca-from" (printf "%s/%s" $root.Release.Namespace $service) }}
  {{- end }}
  {{- include "mr-token-sidecar.annotations" (list $root $annotations) | nindent 2 }}
webhooks:
  - name: inject.mixedreality.azure.com
    admissionReviewVersions: ["v1"]
    sideEffects: None
    failurePolicy: {{ $root.Values.webhook.failurePolicy }}
    timeoutSeconds: {{ $root.Values.webhook.timeoutSeconds }}
    reinvocationPolicy: {{ $root.Values.webhook.reinvocationPolicy }}
    matchPolicy: Equivalent
    clientConfig:
      service:
        name: {{ $service }}
        namespace: {{ $root.Release.Namespace }}
        path: /mutate
        port: 443
      {{- if .caBundle }}
      caBundle: {{ .caBundle }}
      {{- end }}
    rules:
      {{- /* UPDATE: the webhook refuses a change of the sidecar's containers (kubectl set image). */}}
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["pods"]
        scope: Namespaced
    {{- if semverCompare ">=1.28.0-0" $root.Capabilities.KubeVersion.Version }}
    matchConditions:
      {{- /* Updates that leave the spec as it is (labels, annotations, owners) never wait for the webhook. */}}
      - name: creation-or-spec-change
        expression: "request.operation != 'UPDATE' || object.spec != oldObject.spec"
      {{- with $root.Values.webhook.matchConditions }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- else if $root.Values.webhook.matchConditions }}
    {{- fail (printf "webhook.matchConditions needs Kubernetes 1.28 or later; this is %s" $root.Capabilities.KubeVersion.Version) }}
    {{- end }}
    objectSelector:
      {{- toYaml $root.Values.webhook.objectSelector | nindent 6 }}
    namespaceSelector:
      {{- with $selector.matchLabels }}
      matchLabels:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      matchExpressions:
        - key: kubernetes.io/metadata.name
          operator: NotIn
          values: [{{ $root.Release.Namespace | quote }}, "kube-system"]
        {{- with $selector.matchExpressions }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end }}
