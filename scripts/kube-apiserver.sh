#!/usr/bin/env bash
# Builds kube-apiserver (pinned by tools/kube-apiserver/go.mod) once into the
# tsdb-platform cache and prints the binary's path on stdout. Logs go to stderr.
#
# Idempotent: when the versioned binary already exists this is a fast no-op.
# The build goes to a temporary file that is renamed into place, so an
# interrupted build never leaves a half-written binary behind.
#
# Environment:
#   TSDB_CACHE_DIR  cache directory (default: $HOME/.cache/tsdb-platform)
set -euo pipefail

readonly K8S_VERSION="v1.34.2"

log() { printf 'kube-apiserver.sh: %s\n' "$*" >&2; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tool_dir="${repo_root}/tools/kube-apiserver"
cache_dir="${TSDB_CACHE_DIR:-${HOME}/.cache/tsdb-platform}"
bin="${cache_dir}/kube-apiserver-${K8S_VERSION}"

if [[ -x "${bin}" ]]; then
	printf '%s\n' "${bin}"
	exit 0
fi

if ! command -v go >/dev/null 2>&1; then
	log "go is not on PATH; install Go to build kube-apiserver"
	exit 1
fi

# The pinned module must agree with the version this script names the binary by.
pinned="$(cd "${tool_dir}" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
if [[ "${pinned}" != "${K8S_VERSION}" ]]; then
	log "${tool_dir}/go.mod pins k8s.io/kubernetes ${pinned}, not ${K8S_VERSION}; update K8S_VERSION in $0 (and kubeapi.Version) too"
	exit 1
fi

mkdir -p "${cache_dir}"
tmp="$(mktemp "${cache_dir}/.kube-apiserver-${K8S_VERSION}.XXXXXX")"
trap 'rm -f "${tmp}"' EXIT

# Same version stamping as upstream's hack/lib/version.sh, so /version and the
# binary's --version report the release instead of v0.0.0-master.
minor="${K8S_VERSION#v*.}"
minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION}"
	ldflags+=" -X ${pkg}.gitMajor=1"
	ldflags+=" -X ${pkg}.gitMinor=${minor}"
	ldflags+=" -X ${pkg}.gitTreeState=clean"
done

log "building kube-apiserver ${K8S_VERSION} (takes several minutes on a cold cache)"
start=${SECONDS}
(
	cd "${tool_dir}"
	CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" \
		-o "${tmp}" k8s.io/kubernetes/cmd/kube-apiserver
)
chmod 0755 "${tmp}"
mv -f "${tmp}" "${bin}"
trap - EXIT
log "built ${bin} in $((SECONDS - start))s"
printf '%s\n' "${bin}"
