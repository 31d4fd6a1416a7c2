#!/usr/bin/env bash
# Validates deploy/ with every validator that works on this machine without a Docker engine or a cluster.
# Tools come from the package registries (PyPI, the Go module proxy) and are cached; nothing is fetched
# from GitHub. A validator that cannot run is reported as skipped, never as passed.
#
#   npm run deploy:validate        (K8S_VERSION=1.32.0 by default)
set -uo pipefail
cd "$(dirname "$0")/.."
CACHE="${ROLLCALL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rollcall}"
BIN="$CACHE/bin"
K8S_VERSION="${K8S_VERSION:-1.32.0}"
KUBECONFORM_VERSION=v0.8.0
mkdir -p "$BIN"
MANIFESTS=()
for f in deploy/k8s/*.yaml; do [[ "$(basename "$f")" == kustomization.yaml ]] || MANIFESTS+=("$f"); done

passed=0 failed=0 skipped=0
run() { # run NAME CMD...
  local name=$1; shift
  echo "== $name"
  if "$@"; then echo "   ok"; passed=$((passed + 1)); else echo "   FAILED"; failed=$((failed + 1)); fi
}
skip() { echo "== $1"; echo "   skipped: $2"; skipped=$((skipped + 1)); }
have() { command -v "$1" >/dev/null 2>&1; }
pip_tool() { # pip_tool COMMAND PACKAGE: install from PyPI once if missing
  have "$1" || python3 -m pip install --quiet --disable-pip-version-check "$2" >/dev/null 2>&1 || true
  have "$1"
}

# 1. YAML syntax and style (yamllint, PyPI).
if pip_tool yamllint yamllint; then
  run "yamllint deploy/" yamllint -s -d '{extends: relaxed, rules: {line-length: {max: 160}}}' deploy
else skip "yamllint" "not installable (pip)"; fi

# 2. Kubernetes schemas, strict (kubernetes-validate ships the schemas of every release: fully offline).
if pip_tool kubernetes-validate kubernetes-validate; then
  run "kubernetes-validate --strict (Kubernetes $K8S_VERSION)" kubernetes-validate --strict --quiet -k "$K8S_VERSION" "${MANIFESTS[@]}"
else skip "kubernetes-validate" "not installable (pip)"; fi

# 3. kubeconform (Go module proxy) against standalone schemas generated locally from the same package.
if [[ ! -x "$BIN/kubeconform" ]] && have go; then
  GOBIN="$BIN" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >/dev/null 2>&1 || true
fi
if [[ -x "$BIN/kubeconform" ]] && have kubernetes-validate; then
  SCHEMAS="$CACHE/k8s-schemas"
  if python3 deploy/tools/k8s_schemas.py "$SCHEMAS" "$K8S_VERSION" "${MANIFESTS[@]}"; then
    run "kubeconform -strict (Kubernetes $K8S_VERSION, local schemas)" "$BIN/kubeconform" -strict -summary \
      -kubernetes-version "$K8S_VERSION" \
      -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
      -skip Kustomization deploy/k8s/*.yaml
  else skip "kubeconform" "could not generate schemas"; fi
else skip "kubeconform" "needs Go (to install it) and kubernetes-validate (for schemas)"; fi

# 4. The kustomization renders.
if have kubectl; then
  run "kubectl kustomize deploy/k8s" bash -c 'kubectl kustomize deploy/k8s >/dev/null'
else skip "kubectl kustomize" "kubectl not installed"; fi

# 5. docker-compose.yml with .env.example: `docker compose config` when the plugin exists, else the same
#    loader (compose-go: schema, interpolation, depends_on) from the Go module proxy.
if docker compose version >/dev/null 2>&1; then
  run "docker compose config" docker compose -f deploy/docker-compose.yml --env-file deploy/.env.example config -q
elif have go; then
  if [[ ! -x "$BIN/composecheck" ]] || [[ deploy/tools/composecheck/main.go -nt "$BIN/composecheck" ]]; then
    (cd deploy/tools/composecheck && go build -o "$BIN/composecheck" .) >/dev/null 2>&1 || true
  fi
  if [[ -x "$BIN/composecheck" ]]; then
    run "compose-go load of docker-compose.yml (+ .env.example)" "$BIN/composecheck" deploy/docker-compose.yml deploy/.env.example
  else skip "compose" "composecheck did not build"; fi
else skip "compose" "neither the docker compose plugin nor Go"; fi

# 6. nginx.conf, when nginx is installed (the upstream host `api` only resolves inside compose).
if have nginx; then
  tmp=$(mktemp -d)
  # The certificate comes from the tls-init service in compose: a throwaway one stands in for it.
  mkdir -p "$tmp/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=validate \
    -keyout "$tmp/tls/tls.key" -out "$tmp/tls/tls.crt" >/dev/null 2>&1
  sed -e 's/server api:3000/server 127.0.0.1:3000/' -e "s#/etc/nginx/tls#$tmp/tls#g" deploy/nginx.conf >"$tmp/nginx.conf"
  run "nginx -t" nginx -q -t -c "$tmp/nginx.conf" -p "$tmp"
  rm -rf "$tmp"
else skip "nginx -t" "nginx not installed (apt-get install nginx)"; fi

# 7. Prometheus and Alertmanager configuration (promtool / amtool from Debian's prometheus packages). The
#    rules and their unit tests run in `npm test`. Debian's amtool (0.25) predates webhook `url_file`, which
#    the compose image (0.27) reads: the check substitutes a plain URL for it.
if have promtool; then
  tmp=$(mktemp -d)
  echo x >"$tmp/token"
  sed -e "s#/run/secrets/metrics_token#$tmp/token#" -e "s#/etc/prometheus/rules/\*.yml#$PWD/deploy/prometheus/rules/*.yml#" \
    deploy/prometheus/prometheus.yml >"$tmp/prometheus.yml"
  run "promtool check config (compose)" promtool check config "$tmp/prometheus.yml"
  rm -rf "$tmp"
else skip "promtool check config" "promtool not installed (apt-get install prometheus)"; fi
if have amtool; then
  tmp=$(mktemp -d)
  sed 's#url_file: /run/secrets/alert_webhook_url#url: http://webhook.invalid/#' deploy/prometheus/alertmanager.yml >"$tmp/am.yml"
  run "amtool check-config" amtool check-config "$tmp/am.yml"
  rm -rf "$tmp"
else skip "amtool check-config" "amtool not installed (apt-get install prometheus-alertmanager)"; fi

# 8. Shell scripts the compose stack runs.
run "sh -n deploy/{temporal,postgres}/*.sh" bash -c 'for f in deploy/temporal/*.sh deploy/postgres/*.sh; do sh -n "$f" || exit 1; done'
if have shellcheck; then run "shellcheck" shellcheck -s sh deploy/temporal/*.sh deploy/postgres/*.sh
else skip "shellcheck" "not installed"; fi

echo "deploy validation: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
