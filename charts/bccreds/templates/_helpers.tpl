{{/*
The chart name, truncated to 63 characters (the DNS-1123 label limit).
*/}}
{{- define "bccreds.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's resources: the release name, followed by the chart name unless
the release name already contains it. Truncated to 63 characters.
*/}}
{{- define "bccreds.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "bccreds.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "bccreds.labels" -}}
helm.sh/chart: {{ include "bccreds.chart" . }}
{{ include "bccreds.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: bccreds
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable across upgrades, so never anything that changes with a version.
*/}}
{{- define "bccreds.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bccreds.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the controller runs as.
*/}}
{{- define "bccreds.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bccreds.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "bccreds.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The leader-election Lease's name.
*/}}
{{- define "bccreds.leaseName" -}}
{{- default (printf "%s-leader" (include "bccreds.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
The rules the controller needs wherever it watches credentials: in a ClusterRole when it watches
every namespace, in a Role per namespace otherwise. Secrets are read-only: get, list and watch with
secretAccess watch; get alone with secretAccess get, so that the ServiceAccount can read a Secret
whose name it is given but cannot enumerate Secrets. Events are written through events.k8s.io/v1
and, for older recorders, the core API.
*/}}
{{- define "bccreds.watchRules" -}}
- apiGroups: ["bigcommerce.unopim.io"]
  resources: ["bigcommercecredentials"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["bigcommerce.unopim.io"]
  resources: ["bigcommercecredentials/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["bigcommerce.unopim.io"]
  resources: ["bigcommercecredentials/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["secrets"]
  {{- if eq .Values.secretAccess "get" }}
  verbs: ["get"]
  {{- else }}
  verbs: ["get", "list", "watch"]
  {{- end }}
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
Checks of value combinations that the JSON Schema cannot express well.
*/}}
{{- define "bccreds.validate" -}}
{{- if not (has .Values.secretAccess (list "watch" "get")) }}
{{- fail (printf "secretAccess must be watch or get, not %v" .Values.secretAccess) }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled: true (two active controllers would reconcile the same credentials at once)" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "serviceMonitor.enabled needs metrics.service.enabled: true (the ServiceMonitor scrapes that Service)" }}
{{- end }}
{{- end }}
