{{/* The prefix of every object's name: the release name, or "<release>-arbor" unless it says arbor. */}}
{{- define "arbor.fullname" -}}
{{- if contains "arbor" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-arbor" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "arbor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component: include "arbor.selectorLabels" (list . "pageserver") */}}
{{- define "arbor.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: arbor
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Standard labels of one component: include "arbor.labels" (list . "pageserver") */}}
{{- define "arbor.labels" -}}
{{ include "arbor.selectorLabels" . }}
{{- $root := index . 0 }}
app.kubernetes.io/part-of: arbor
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
helm.sh/chart: {{ include "arbor.chart" $root }}
{{- end -}}

{{/* An Arbor image: include "arbor.image" (list . "operator") */}}
{{- define "arbor.image" -}}
{{- $root := index . 0 -}}
{{- printf "%sarbor-%s:%s" $root.Values.image.registry (index . 1) ($root.Values.image.tag | default $root.Chart.AppVersion) -}}
{{- end -}}

{{/* https, unless tls.enabled is off (development only: the daemons then run --insecure-no-tls). */}}
{{- define "arbor.scheme" -}}
{{ if .Values.tls.enabled }}https{{ else }}http{{ end }}
{{- end -}}

{{/* The kubelet's probes: HTTPS without checking the certificate (probes carry no token), or plain HTTP. */}}
{{- define "arbor.probeScheme" -}}
{{ if .Values.tls.enabled }}HTTPS{{ else }}HTTP{{ end }}
{{- end -}}

{{/* "name,name,...": the DNS names of the storage daemons' certificate (the operator's ARBOR_TLS_STORAGE_DNS_NAMES):
the pageserver's Service and every safekeeper pod, each as clients in the namespace and outside it write it. */}}
{{- define "arbor.storageDnsNames" -}}
{{- $root := . -}}
{{- $fullname := include "arbor.fullname" . -}}
{{- $names := list (printf "%s-pageserver" $fullname) (printf "%s-pageserver.%s" $fullname .Release.Namespace) (include "arbor.pageserverHost" .) -}}
{{- range $i := until (int .Values.safekeepers.replicas) -}}
{{- $names = append $names (include "arbor.safekeeperHost" (list $root $i)) -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}

{{- define "arbor.pageserverHost" -}}
{{ include "arbor.fullname" . }}-pageserver.{{ .Release.Namespace }}.svc
{{- end -}}

{{/* The pageserver's port for computes (basebackup, WAL, generations) and for management (tenants, timelines). */}}
{{- define "arbor.pageserverUrl" -}}
{{ include "arbor.scheme" . }}://{{ include "arbor.pageserverHost" . }}:9898
{{- end -}}
{{- define "arbor.pageserverManagementUrl" -}}
{{ include "arbor.scheme" . }}://{{ include "arbor.pageserverHost" . }}:9899
{{- end -}}

{{/* Safekeeper i's id (its pod's name) and URLs (its name in the headless Service): port 7676 for computes (and
peers catching up), 7677 for management (timeline deletion by the pageserver, metrics). */}}
{{- define "arbor.safekeeperName" -}}
{{ include "arbor.fullname" (index . 0) }}-safekeeper-{{ index . 1 }}
{{- end -}}
{{- define "arbor.safekeeperHost" -}}
{{- $root := index . 0 -}}
{{ include "arbor.safekeeperName" . }}.{{ include "arbor.fullname" $root }}-safekeeper.{{ $root.Release.Namespace }}.svc
{{- end -}}
{{- define "arbor.safekeeperUrl" -}}
{{ include "arbor.scheme" (index . 0) }}://{{ include "arbor.safekeeperHost" . }}:7676
{{- end -}}
{{- define "arbor.safekeeperManagementUrl" -}}
{{ include "arbor.scheme" (index . 0) }}://{{ include "arbor.safekeeperHost" . }}:7677
{{- end -}}

{{/* "url,url,url": the pageserver's --safekeepers, their management ports (it deletes timelines' WAL there) */}}
{{- define "arbor.safekeeperUrls" -}}
{{- $root := . -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.safekeepers.replicas) -}}
{{- $urls = append $urls (include "arbor.safekeeperManagementUrl" (list $root $i)) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/* "id=url,...": the operator's ARBOR_STORAGE_ENGINE_SAFEKEEPERS */}}
{{- define "arbor.safekeeperEntries" -}}
{{- $root := . -}}
{{- $entries := list -}}
{{- range $i := until (int .Values.safekeepers.replicas) -}}
{{- $entries = append $entries (printf "%s=%s" (include "arbor.safekeeperName" (list $root $i)) (include "arbor.safekeeperUrl" (list $root $i))) -}}
{{- end -}}
{{- join "," $entries -}}
{{- end -}}

{{/* The storage engine's --object-store, or a render failure that says what to set. */}}
{{- define "arbor.objectStore" -}}
{{- $s3 := .Values.objectStore.s3 -}}
{{- if and .Values.objectStore.dev.enabled $s3.bucket -}}
{{- fail "objectStore: set either objectStore.s3.bucket (your S3) or objectStore.dev.enabled=true (an evaluation store), not both" -}}
{{- else if .Values.objectStore.dev.enabled -}}
s3://arbor/{{ .Release.Namespace }}/{{ .Release.Name }}
{{- else if $s3.bucket -}}
s3://{{ $s3.bucket }}{{ if $s3.prefix }}/{{ trimAll "/" $s3.prefix }}{{ end }}
{{- else -}}
{{- fail "objectStore: Arbor keeps its data in S3: set objectStore.s3.bucket (with .endpoint, .region and .credentialsSecret as your S3 needs), or objectStore.dev.enabled=true for an evaluation store inside the release (not for production)" -}}
{{- end -}}
{{- end -}}

{{- define "arbor.devObjectStoreUrl" -}}
http://{{ include "arbor.fullname" . }}-s3-dev.{{ .Release.Namespace }}.svc:9000
{{- end -}}

{{/* The AWS variables of the storage engine's containers. */}}
{{- define "arbor.objectStoreEnv" -}}
{{- $s3 := .Values.objectStore.s3 -}}
{{- if .Values.objectStore.dev.enabled }}
- {name: AWS_ENDPOINT_URL, value: {{ include "arbor.devObjectStoreUrl" . | quote }}}
- {name: AWS_REGION, value: us-east-1}
# The evaluation store checks no signature; the SDK signs with these placeholders (not secrets).
- {name: AWS_ACCESS_KEY_ID, value: arbor-dev}
- {name: AWS_SECRET_ACCESS_KEY, value: arbor-dev}
{{- else }}
{{- with $s3.endpoint }}
- {name: AWS_ENDPOINT_URL, value: {{ . | quote }}}
{{- end }}
{{- with $s3.region }}
- {name: AWS_REGION, value: {{ . | quote }}}
{{- end }}
{{- if ne (toString $s3.pathStyle) "" }}
- {name: ARBOR_S3_PATH_STYLE, value: {{ toString $s3.pathStyle | quote }}}
{{- end }}
{{- with $s3.credentialsSecret.name }}
- name: AWS_ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ . | quote }}, key: {{ $s3.credentialsSecret.accessKeyIdKey | quote }}}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ . | quote }}, key: {{ $s3.credentialsSecret.secretAccessKeyKey | quote }}}}
{{- end }}
{{- end }}
{{- end -}}

{{/* Pod Security "restricted": the pod's part. */}}
{{- define "arbor.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* Pod Security "restricted": each container's part, with a read-only root filesystem. */}}
{{- define "arbor.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}

{{- define "arbor.pullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
- name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Storage tokens (docs/security.md): the issuer every token names and the daemons check. */}}
{{- define "arbor.authIssuer" -}}
{{- .Values.auth.issuer | default (printf "arbor/%s/%s" .Release.Namespace .Release.Name) -}}
{{- end -}}

{{/* The storage daemons' token flags: the public key set and their own token, each a file in a directory mount
(never subPath: the kubelet then updates the files when the operator changes the ConfigMap or Secret). */}}
{{- define "arbor.storageAuthArgs" -}}
- --auth-keys=/etc/arbor/auth-keys/public-keys.jwks
- --auth-issuer={{ include "arbor.authIssuer" . }}
- --token-file=/var/run/arbor/storage-token/token
{{- if .Values.tls.enabled }}
# HTTPS with the certificate the operator issues from the installation's CA (docs/security.md, "TLS"); the
# safekeepers present it to computes too, and trust computes' certificates of the same CA.
- --tls-cert=/var/run/arbor/tls/tls.crt
- --tls-key=/var/run/arbor/tls/tls.key
- --tls-ca=/var/run/arbor/tls/ca.crt
{{- else }}
# tls.enabled=false, development only: tokens are checked but travel unencrypted.
- --insecure-no-tls
{{- end }}
{{- end -}}

{{- define "arbor.storageAuthMounts" -}}
- {name: auth-keys, mountPath: /etc/arbor/auth-keys, readOnly: true}
- {name: storage-token, mountPath: /var/run/arbor/storage-token, readOnly: true}
{{- if .Values.tls.enabled }}
- {name: tls, mountPath: /var/run/arbor/tls, readOnly: true}
{{- end }}
{{- end -}}

{{/* The operator creates both at its start; until then the kubelet holds the pod in ContainerCreating. */}}
{{- define "arbor.storageAuthVolumes" -}}
- name: auth-keys
  configMap: {name: {{ include "arbor.fullname" . }}-storage-auth-keys}
- name: storage-token
  secret: {secretName: {{ include "arbor.fullname" . }}-storage-token, defaultMode: 0440}
{{- if .Values.tls.enabled }}
- name: tls
  secret: {secretName: {{ include "arbor.fullname" . }}-storage-tls, defaultMode: 0440}
{{- end }}
{{- end -}}
