{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "chat-token-broker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: release-chart, or the release name alone when it already contains the chart name.
*/}}
{{- define "chat-token-broker.fullname" -}}
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
{{- define "chat-token-broker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "chat-token-broker.labels" -}}
helm.sh/chart: {{ include "chat-token-broker.chart" . }}
{{ include "chat-token-broker.selectorLabels" . }}
app.kubernetes.io/version: {{ include "chat-token-broker.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chat-token-broker
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable across upgrades (never add a changing value here).
*/}}
{{- define "chat-token-broker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chat-token-broker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "chat-token-broker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chat-token-broker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "chat-token-broker.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
Image reference: repository:tag, or repository@digest when a digest pins it.
*/}}
{{- define "chat-token-broker.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "chat-token-broker.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding the secret settings: the existing one, or the chart's.
*/}}
{{- define "chat-token-broker.secretName" -}}
{{- default (include "chat-token-broker.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/*
"true" when the chart creates its own Secret (no existingSecret and at least one value set).
*/}}
{{- define "chat-token-broker.createSecret" -}}
{{- if not .Values.secret.existingSecret }}
{{- range $name, $value := .Values.secret.values }}
{{- if $value }}true{{ end }}
{{- end }}
{{- if .Values.jwtIssuers.list }}true{{ end }}
{{- end }}
{{- end }}

{{/*
The Secret key holding the issuers file, when there is one (the chart's, or an existing Secret's).
*/}}
{{- define "chat-token-broker.issuersKey" -}}
{{- if .Values.secret.existingSecret }}{{ .Values.jwtIssuers.existingSecretKey }}{{ else if .Values.jwtIssuers.list }}jwt-issuers.yaml{{ end }}
{{- end }}

{{/*
Redis mode: standalone, sentinel, cluster, or empty (in-memory cache).
*/}}
{{- define "chat-token-broker.redisMode" -}}
{{- if .Values.redis.url }}standalone{{ else if .Values.redis.sentinel.nodes }}sentinel{{ else if .Values.redis.cluster.nodes }}cluster{{ end }}
{{- end }}

{{/*
Replicas that will run at least: the HPA minimum, or replicaCount.
*/}}
{{- define "chat-token-broker.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ .Values.autoscaling.minReplicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the pod must outlive the preStop pause plus the broker's own
delay and grace (SHUTDOWN_DELAY_MS + SHUTDOWN_GRACE_MS) plus its 2 s forced-exit backstop;
computed with 3 s to spare.
*/}}
{{- define "chat-token-broker.terminationGracePeriodSeconds" -}}
{{- $graceSeconds := div (add (int .Values.shutdown.graceMs) (int .Values.shutdown.delayMs) 999) 1000 }}
{{- $needed := add (int .Values.shutdown.preStopSeconds) $graceSeconds 2 }}
{{- if kindIs "invalid" .Values.shutdown.terminationGracePeriodSeconds }}
{{- add $needed 3 }}
{{- else if le (int .Values.shutdown.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%d) must exceed shutdown.preStopSeconds + shutdown.delayMs + shutdown.graceMs + 2 s (%d s)" (int .Values.shutdown.terminationGracePeriodSeconds) (int $needed)) }}
{{- else }}
{{- .Values.shutdown.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
The V8 old generation's ceiling in MiB: heap.percentOfMemoryLimit of resources.limits.memory (Mi or
Gi), so the heap is collected well before the kernel's OOM killer acts. Empty without a limit
(Node's own default then). bench/lib/chart.ts derives the same flags, so the benchmark runs the
broker as the chart does.
*/}}
{{- define "chat-token-broker.maxOldSpaceMiB" -}}
{{- $limit := toString (dig "limits" "memory" "" .Values.resources) }}
{{- $mib := 0 }}
{{- if hasSuffix "Mi" $limit }}{{ $mib = trimSuffix "Mi" $limit | atoi }}
{{- else if hasSuffix "Gi" $limit }}{{ $mib = mul (trimSuffix "Gi" $limit | atoi) 1024 }}
{{- else if $limit }}{{ fail (printf "resources.limits.memory (%s): write it in Mi or Gi, so the Node.js heap can be sized from it" $limit) }}
{{- end }}
{{- if gt $mib 0 }}{{ div (mul $mib (int .Values.heap.percentOfMemoryLimit)) 100 }}{{ end }}
{{- end }}

{{/*
NODE_OPTIONS: the heap sized from the memory limit (see maxOldSpaceMiB), and a young generation
that V8 would otherwise shrink with it (values.yaml says why). Empty without a memory limit.
*/}}
{{- define "chat-token-broker.nodeOptions" -}}
{{- with include "chat-token-broker.maxOldSpaceMiB" . }}--max-old-space-size={{ . }} --max-semi-space-size={{ $.Values.heap.semiSpaceMiB }}{{ end }}
{{- end }}

{{/*
Settings that cannot work together stop the render with one clear message.
*/}}
{{- define "chat-token-broker.validate" -}}
{{- $modes := 0 }}
{{- if .Values.redis.url }}{{ $modes = add1 $modes }}{{ end }}
{{- if .Values.redis.sentinel.nodes }}{{ $modes = add1 $modes }}{{ end }}
{{- if .Values.redis.cluster.nodes }}{{ $modes = add1 $modes }}{{ end }}
{{- if gt $modes 1 }}
{{- fail "Set only one of redis.url, redis.sentinel.nodes and redis.cluster.nodes." }}
{{- end }}
{{- if and .Values.redis.tlsSecret.certKey (not .Values.redis.tlsSecret.keyKey) }}
{{- fail "redis.tlsSecret.keyKey is required with redis.tlsSecret.certKey (the client certificate's private key)." }}
{{- end }}
{{- if and .Values.redis.tlsSecret.certKey (not .Values.redis.tlsSecret.name) }}
{{- fail "redis.tlsSecret.name is required with redis.tlsSecret.certKey." }}
{{- end }}
{{- if and .Values.redis.sentinel.nodes (not .Values.redis.sentinel.masterName) }}
{{- fail "redis.sentinel.masterName is required with redis.sentinel.nodes." }}
{{- end }}
{{- if and (eq $modes 0) (gt (int (include "chat-token-broker.minReplicas" .)) 1) }}
{{- fail "More than one replica (replicaCount or autoscaling.minReplicas) needs Redis: set redis.url, redis.sentinel or redis.cluster." }}
{{- end }}
{{- if and (eq $modes 0) .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled needs Redis: set redis.url, redis.sentinel or redis.cluster." }}
{{- end }}
{{- if and (gt $modes 0) (not .Values.secret.existingSecret) (not .Values.secret.values.TOKEN_ENCRYPTION_KEY) }}
{{- fail "Redis needs TOKEN_ENCRYPTION_KEY: set secret.values.TOKEN_ENCRYPTION_KEY or use secret.existingSecret." }}
{{- end }}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.parentRefs: name the Gateway(s) the route attaches to." }}
{{- end }}
{{- if and .Values.metrics.port (eq (int .Values.metrics.port) (int .Values.containerPort)) }}
{{- fail "metrics.port must differ from containerPort." }}
{{- end }}
{{- include "chat-token-broker.validateRequired" . }}
{{- end }}

{{/*
What the broker cannot start without, checked at template time: a missing value stops
`helm install` with its name, instead of a pod that crash-loops with exit code 78. A secret put
under `config` (which becomes a ConfigMap) is refused with the place where secrets go.
*/}}
{{- define "chat-token-broker.validateRequired" -}}
{{- range $name, $key := .Values.secret.keys }}
{{- range $variant := list $name (printf "%s_FILE" $name) }}
{{- if hasKey $.Values.config $variant }}
{{- fail (printf "config.%s: secrets do not go under config (it becomes a ConfigMap). Set secret.values.%s, or keep it in the Secret named by secret.existingSecret under the key %q (secret.keys.%s)." $variant $name $key $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not .Values.config.NEXCONN_APP_KEY }}
{{- fail "config.NEXCONN_APP_KEY is required: the App Key from the Nexconn console." }}
{{- end }}
{{- if not (or .Values.secret.existingSecret .Values.secret.values.NEXCONN_APP_SECRET) }}
{{- fail (printf "secret.values.NEXCONN_APP_SECRET is required (the App Secret from the Nexconn console), or set secret.existingSecret to a Secret holding it under the key %q." .Values.secret.keys.NEXCONN_APP_SECRET) }}
{{- end }}
{{- $modes := list }}
{{- if .Values.config.JWT_JWKS_URL }}{{ $modes = append $modes "config.JWT_JWKS_URL" }}{{ end }}
{{- if .Values.config.JWT_OIDC_ISSUER }}{{ $modes = append $modes "config.JWT_OIDC_ISSUER" }}{{ end }}
{{- if include "chat-token-broker.issuersKey" . }}{{ $modes = append $modes "jwtIssuers" }}{{ end }}
{{- if not .Values.secret.existingSecret }}
{{- if .Values.secret.values.JWT_SECRET }}{{ $modes = append $modes "secret.values.JWT_SECRET" }}{{ end }}
{{- if .Values.secret.values.JWT_PUBLIC_KEY }}{{ $modes = append $modes "secret.values.JWT_PUBLIC_KEY" }}{{ end }}
{{- if eq (len $modes) 0 }}
{{- fail "How are end-user JWTs verified? Set one of config.JWT_JWKS_URL (with config.JWT_ISSUER and config.JWT_AUDIENCE), config.JWT_OIDC_ISSUER (with config.JWT_AUDIENCE), secret.values.JWT_SECRET, secret.values.JWT_PUBLIC_KEY or jwtIssuers.list, or keep the key in secret.existingSecret." }}
{{- end }}
{{- end }}
{{- if gt (len $modes) 1 }}
{{- fail (printf "Set only one JWT key mode; found %s." (join " and " $modes)) }}
{{- end }}
{{- $audience := or .Values.config.JWT_AUDIENCE .Values.config.JWT_CLIENT_IDS }}
{{- if and .Values.config.JWT_JWKS_URL (not (and .Values.config.JWT_ISSUER $audience)) }}
{{- fail "config.JWT_JWKS_URL needs config.JWT_ISSUER and config.JWT_AUDIENCE (or config.JWT_CLIENT_IDS): the iss and aud your identity provider puts in its tokens." }}
{{- end }}
{{- if and .Values.config.JWT_OIDC_ISSUER (not $audience) }}
{{- fail "config.JWT_OIDC_ISSUER needs config.JWT_AUDIENCE (or config.JWT_CLIENT_IDS): the aud your identity provider puts in its tokens." }}
{{- end }}
{{- if include "chat-token-broker.issuersKey" . }}
{{- range $name := list "JWT_ISSUER" "JWT_AUDIENCE" "JWT_ALGORITHMS" "JWT_CLIENT_IDS" "JWT_TOKEN_USE" }}
{{- if get $.Values.config $name }}
{{- fail (printf "config.%s: jwtIssuers replaces the single-issuer settings; set it per issuer in jwtIssuers.list." $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if lt (int .Values.shutdown.graceMs) (int (.Values.config.NEXCONN_DEADLINE_MS | default 8000)) }}
{{- fail (printf "shutdown.graceMs (%d) must be at least config.NEXCONN_DEADLINE_MS (%d): a request waiting on Nexconn would be cut off at shutdown." (int .Values.shutdown.graceMs) (int (.Values.config.NEXCONN_DEADLINE_MS | default 8000))) }}
{{- end }}
{{- end }}
