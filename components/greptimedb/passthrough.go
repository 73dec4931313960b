package greptimedb

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// Passthrough is what a component takes beyond its typed keys: a TOML overlay
// deep-merged into its generated config file, and extra environment variables
// of its main container. Neither may touch what the program manages.
type Passthrough struct {
	// Config is merged into the component's config file. Its values are
	// written into a ConfigMap: never a secret (use Env with a secretRef and
	// GreptimeDB's GREPTIMEDB_<COMPONENT>__<KEY> variables for those).
	Config kube.ConfigOverlay `json:"config"`
	// Env are extra variables of the component's main container.
	Env []kube.EnvVar `json:"env"`
}

// managed is a config key, or a whole table, that the program writes or sets
// on the command line, and the cluster key (below greptimedb[i]) that sets it
// instead ("" when it follows from the program's own layout).
type managed struct{ key, field string }

// Keys every component's file or command line sets (src/cmd/src/<component>.rs
// at v1.1.4: --rpc-bind-addr, --rpc-server-addr and --http-addr become
// grpc.bind_addr, grpc.server_addr and http.addr; --metasrv-addrs
// meta_client.metasrv_addrs; --node-id node_id).
var (
	managedLogging = []managed{
		{"logging.dir", ""},
		{"logging.level", "logging.level"},
		{"logging.log_format", "logging.format"},
		{"logging.enable_otlp_tracing", "logging.tracing.enabled"},
		{"logging.otlp_endpoint", "logging.tracing.endpoint"},
		{"logging.otlp_export_protocol", "logging.tracing.protocol"},
		{"logging.tracing_sample_ratio.default_ratio", "logging.tracing.sampleRatio"},
	}
	managedServers = []managed{{"grpc.bind_addr", ""}, {"grpc.server_addr", ""}, {"http.addr", ""}}
	managedNode    = []managed{{"node_id", ""}, {"meta_client.metasrv_addrs", "meta.replicas"}}
)

// managedKeys are the keys component k's overlay may not set.
func managedKeys(k Kind) []managed {
	keys := append(append([]managed{}, managedLogging...), managedServers...)
	switch k {
	case KindMeta:
		return append(keys,
			managed{"data_home", ""}, managed{"backend", "etcd.endpoints"}, managed{"store_addrs", "etcd.endpoints"},
			managed{"store_key_prefix", "name"}, managed{"enable_region_failover", "meta.enableRegionFailover"},
			managed{"wal", "wal"}, managed{"backend_tls", "etcd.tls"}, managed{"bind_addr", ""}, managed{"server_addr", ""})
	case KindDatanode:
		return append(append(keys, managedNode...),
			managed{"storage.data_home", "datanode.storage"}, managed{"storage", "datanode.objectStorage"}, managed{"wal", "wal"})
	case KindFrontend:
		return append(keys,
			managed{"meta_client.metasrv_addrs", "meta.replicas"}, managed{"grpc.tls", "frontend.tls"},
			managed{"mysql.addr", ""}, managed{"mysql.enable", ""}, managed{"mysql.tls", "frontend.tls"},
			managed{"postgres.addr", ""}, managed{"postgres.enable", ""}, managed{"postgres.tls", "frontend.tls"},
			managed{"internal_grpc", "flownode.enabled"}, managed{"user_provider", "frontend.auth"},
			managed{"slow_query", "frontend.slowQuery"})
	case KindFlownode:
		return append(keys, managedNode...)
	}
	return keys
}

// ManagedKey reports whether the overlay key of component k is the program's,
// and the cluster key to set instead ("" when none sets it). A key is the
// program's when it is a managed key, lies in a managed table, or is a table
// holding one.
func ManagedKey(k Kind, key string) (field string, ok bool) {
	for _, m := range managedKeys(k) {
		if key == m.key || strings.HasPrefix(key, m.key+".") || strings.HasPrefix(m.key, key+".") {
			return m.field, true
		}
	}
	return "", false
}

// validatePassthrough checks component k's overlay and variables at p; cluster
// is the cluster's own path, for the keys to set instead.
func validatePassthrough(k Kind, pt Passthrough, cluster, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, key := range pt.Config.Keys() {
		at := p.Child("config").Child(key)
		if v := lookupKey(pt.Config, key); v == nil {
			errs = append(errs, field.Invalid(at, nil, "a TOML value cannot be null; remove the key"))
			continue
		}
		if why := managedWhy(k, key, cluster); why != "" {
			errs = append(errs, field.Invalid(at, lookupKey(pt.Config, key), why))
		}
	}
	return append(errs, kube.ValidateEnv(pt.Env, func(name string) string { return reservedEnv(k, name, cluster) }, p.Child("env"))...)
}

// managedWhy says why component k's key is the program's, naming the key to
// set instead; "" when it is not.
func managedWhy(k Kind, key string, cluster *field.Path) string {
	f, ok := ManagedKey(k, key)
	switch {
	case !ok:
		return ""
	case f == "":
		return "managed by the program (it follows from the pods' layout and ports); remove it"
	default:
		parts := strings.Split(f, ".")
		return fmt.Sprintf("managed by the program; set %s instead", cluster.Child(parts[0], parts[1:]...))
	}
}

// lookupKey is the overlay's value at a dotted key.
func lookupKey(o kube.ConfigOverlay, key string) any {
	var cur any = map[string]any(o)
	for _, seg := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	return cur
}

// envPrefix is the prefix of component k's config variables
// (GREPTIMEDB_<COMPONENT>__A__B is key a.b: src/cmd/src/<component>.rs
// --env-prefix, read by common-config's load_layered_options).
var envPrefix = map[Kind]string{
	KindMeta: "GREPTIMEDB_METASRV__", KindDatanode: "GREPTIMEDB_DATANODE__",
	KindFrontend: "GREPTIMEDB_FRONTEND__", KindFlownode: "GREPTIMEDB_FLOWNODE__",
}

// reservedEnv says why a variable name is the program's in component k's
// container, "" when it is not: the downward-API and script variables, the
// export's S3 keys, and the config variables of managed keys.
func reservedEnv(k Kind, name string, cluster *field.Path) string {
	switch name {
	case "POD_IP", "POD_NAME", "POD_NAMESPACE":
		return "set by the program (the pod's identity, from the downward API)"
	case EnvMetasrvAddrs:
		return fmt.Sprintf("set by the program (meta's address); the cluster's meta is at %s", cluster.Child("meta"))
	case EnvAWSAccessKeyID, EnvAWSSecretAccessKey:
		if k == KindFrontend {
			return fmt.Sprintf("set by the program for database exports; set %s instead", cluster.Child("datanode", "objectStorage", "secretRefs"))
		}
	}
	if !strings.HasPrefix(name, "GREPTIMEDB_") {
		return ""
	}
	rest, ok := strings.CutPrefix(name, envPrefix[k])
	if !ok {
		return fmt.Sprintf("only %s<KEY> variables are read by this component", envPrefix[k])
	}
	key := strings.ReplaceAll(strings.ToLower(rest), "__", ".")
	return managedWhy(k, key, cluster)
}

// passthrough is component k's overlay and variables.
func (s ClusterSpec) passthrough(k Kind) Passthrough {
	switch k {
	case KindMeta:
		return s.Meta.Passthrough
	case KindDatanode:
		return s.Datanode.Passthrough
	case KindFrontend:
		return s.Frontend.Passthrough
	case KindFlownode:
		return s.Flownode.Passthrough
	}
	return Passthrough{}
}

// validatePassthroughs checks every component's overlay and variables.
func (s ClusterSpec) validatePassthroughs(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range []Kind{KindMeta, KindDatanode, KindFrontend, KindFlownode} {
		errs = append(errs, validatePassthrough(k, s.passthrough(k), p, p.Child(string(k)))...)
	}
	return errs
}
