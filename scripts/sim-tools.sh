#!/usr/bin/env bash
# Builds what the API-server tests and the simulated cluster run (tests/kubeapi)
# once into the tsdb-platform cache, and prints each binary's path on stdout, one a
# line. Logs go to stderr.
#
#   kube-apiserver           k8s.io/kubernetes, pinned by tools/kube-apiserver/go.mod
#   kube-controller-manager  (the same module and version)
#   kube-scheduler           (the same module and version)
#   etcd                     go.etcd.io/etcd/server/v3, pinned by tools/etcd/go.mod
#   kwok                     sigs.k8s.io/kwok, pinned by tools/kwok/go.mod
#   greptimedb-operator      github.com/GreptimeTeam/greptimedb-operator, pinned by
#                            tools/greptimedb-operator/go.mod; only `make bench-peer`
#                            runs it, so it is built only when named
#
# Idempotent: a binary whose versioned file already exists is not rebuilt. Each
# build goes to a temporary file that is renamed into place, so an interrupted
# build never leaves a half-written binary behind.
#
# Usage: sim-tools.sh [NAME...]   (default: the first five)
#
# Environment:
#   TSDB_CACHE_DIR  cache directory (default: $HOME/.cache/tsdb-platform)
set -euo pipefail

# Keep in step with the go.mod files (checked below) and with tests/kubeapi
# (kubeapi.Version, EtcdVersion, KwokVersion).
readonly K8S_VERSION="v1.34.2"
readonly ETCD_VERSION="v3.6.16"
readonly KWOK_VERSION="v0.8.0"
# Keep in step with tests/cmd/benchpeer (operatorVersion).
readonly OPERATOR_VERSION="v0.6.0"

log() { printf 'sim-tools.sh: %s\n' "$*" >&2; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${TSDB_CACHE_DIR:-${HOME}/.cache/tsdb-platform}"

# build NAME VERSION TOOL_DIR MODULE PACKAGE [LDFLAGS]
build() {
	local name="$1" version="$2" tool_dir="${repo_root}/$3" module="$4" pkg="$5" ldflags="${6:-}"
	local bin="${cache_dir}/${name}-${version}"
	if [[ -x "${bin}" ]]; then
		printf '%s\n' "${bin}"
		return 0
	fi
	if ! command -v go >/dev/null 2>&1; then
		log "go is not on PATH; install Go to build ${name}"
		return 1
	fi
	local pinned
	pinned="$(cd "${tool_dir}" && go list -m -f '{{.Version}}' "${module}")"
	if [[ "${pinned}" != "${version}" ]]; then
		log "${tool_dir}/go.mod pins ${module} ${pinned}, not ${version}; update $0 and tests/kubeapi too"
		return 1
	fi
	mkdir -p "${cache_dir}"
	local tmp
	tmp="$(mktemp "${cache_dir}/.${name}-${version}.XXXXXX")"
	# shellcheck disable=SC2064 # expand tmp now: it is local to this call
	trap "rm -f '${tmp}'" EXIT
	log "building ${name} ${version} (takes several minutes on a cold cache)"
	local start=${SECONDS}
	(
		cd "${tool_dir}"
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${ldflags}" -o "${tmp}" "${pkg}"
	)
	chmod 0755 "${tmp}"
	mv -f "${tmp}" "${bin}"
	trap - EXIT
	log "built ${bin} in $((SECONDS - start))s"
	printf '%s\n' "${bin}"
}

# Same version stamping as upstream's hack/lib/version.sh, so /version and each
# binary's --version report the release instead of v0.0.0-master.
k8s_minor="${K8S_VERSION#v*.}"
k8s_minor="${k8s_minor%%.*}"
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	k8s_ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION}"
	k8s_ldflags+=" -X ${pkg}.gitMajor=1"
	k8s_ldflags+=" -X ${pkg}.gitMinor=${k8s_minor}"
	k8s_ldflags+=" -X ${pkg}.gitTreeState=clean"
done

names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
	names=(kube-apiserver etcd kube-controller-manager kube-scheduler kwok)
fi
for name in "${names[@]}"; do
	case "${name}" in
	etcd)
		build etcd "${ETCD_VERSION}" tools/etcd go.etcd.io/etcd/server/v3 .
		;;
	kube-apiserver | kube-controller-manager | kube-scheduler)
		build "${name}" "${K8S_VERSION}" tools/kube-apiserver k8s.io/kubernetes \
			"k8s.io/kubernetes/cmd/${name}" "${k8s_ldflags}"
		;;
	kwok)
		build kwok "${KWOK_VERSION}" tools/kwok sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok \
			"-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
		;;
	greptimedb-operator)
		# The checksum database does not serve this module; go.sum pins its hash.
		GONOSUMDB="${GONOSUMDB:+${GONOSUMDB},}github.com/GreptimeTeam" \
			build greptimedb-operator "${OPERATOR_VERSION}" tools/greptimedb-operator \
			github.com/GreptimeTeam/greptimedb-operator \
			github.com/GreptimeTeam/greptimedb-operator/cmd/operator \
			"-X github.com/GreptimeTeam/greptimedb-operator/pkg/version.gitVersion=${OPERATOR_VERSION}"
		;;
	*)
		log "unknown tool ${name}"
		exit 1
		;;
	esac
done
