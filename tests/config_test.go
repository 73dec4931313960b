package tests

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
)

// validConfig is the smallest configuration that deploys something: one cluster of
// each kind with the dev profile's defaults.
func validConfig() map[string]string {
	return map[string]string{
		"kubeContext": "test",
		"greptimedb":  `[{"name":"metrics"}]`,
		"quasardb":    `[{"name":"ticks"}]`,
	}
}

func with(overrides map[string]string) map[string]string {
	cfg := validConfig()
	for k, v := range overrides {
		if v == "<unset>" {
			delete(cfg, k)
			continue
		}
		cfg[k] = v
	}
	return cfg
}

func TestValidConfigLoads(t *testing.T) {
	spec, err := stacks.Load(stacks.MapLookup(validConfig()))
	require.NoError(t, err)
	assert.Equal(t, "dev", spec.Profile)
	assert.Equal(t, "tsdb", spec.Target.Namespace)
	assert.Equal(t, "cluster.local", spec.Target.ClusterDomain)
	require.Len(t, spec.GreptimeDB, 1)
	assert.Equal(t, 1, spec.GreptimeDB[0].Etcd.Replicas, "dev profile: one etcd member")
	require.Len(t, spec.QuasarDB, 1)
	assert.Equal(t, 1, spec.QuasarDB[0].Replicas)
}

func TestStackFileOverridesProfile(t *testing.T) {
	spec, err := stacks.Load(stacks.MapLookup(with(map[string]string{
		"profile": "prod",
		// The prod profile exports databases to S3, so a prod cluster keeps its data there.
		"greptimedb": `[{"name":"metrics","etcd":{"replicas":5},"frontend":{"resources":{"limits":{"cpu":"3"}}},` +
			`"datanode":{"objectStorage":{"type":"S3","bucket":"bkt","region":"us-east-1","accessKeyId":"AKID","secretAccessKey":"SECRET"}}}]`,
		"quasardb": "<unset>",
	})))
	require.NoError(t, err)
	c := spec.GreptimeDB[0]
	assert.Equal(t, 5, c.Etcd.Replicas, "stack file wins over the profile")
	assert.Equal(t, 3, c.Meta.Replicas, "prod profile default kept")
	assert.EqualValues(t, "3", c.Frontend.Resources.Limits.CPU, "nested override")
	assert.EqualValues(t, "2Gi", c.Frontend.Resources.Limits.Memory, "sibling of a nested override keeps the profile value")
	assert.EqualValues(t, "required", c.AntiAffinity)
	assert.True(t, spec.DataSafety.Protect)
	assert.True(t, spec.NetworkPolicy.Enabled)
}

// TestBadConfigIsRejected is the table of configurations a user can get wrong. Each
// must be rejected before any resource is registered, with a message that names the
// config key, shows the bad value and says what is allowed.
func TestBadConfigIsRejected(t *testing.T) {
	licenseDir := t.TempDir()
	emptyLicense := filepath.Join(licenseDir, "empty.key")
	require.NoError(t, os.WriteFile(emptyLicense, []byte("\n"), 0o600))

	tests := []struct {
		name    string
		config  map[string]string
		key     string   // the key the problem must name
		message []string // fragments the message must contain
	}{
		{"unknown profile", map[string]string{"profile": "production"}, "profile", []string{`"production"`, "dev, staging, prod"}},
		{"namespace not a DNS label", map[string]string{"namespace": "TSDB_Prod"}, "namespace", []string{`"TSDB_Prod"`, "namespace name"}},
		{"cluster domain not a domain", map[string]string{"clusterDomain": "cluster..local"}, "clusterDomain", []string{"DNS domain"}},
		{"no explicit target", map[string]string{"kubeContext": "<unset>"}, "kubeContext", []string{"renderDir"}},
		{"render mode with a context", map[string]string{"renderDir": "out"}, "renderDir", []string{"cannot be combined"}},
		{"createNamespace not a boolean", map[string]string{"createNamespace": "yes please"}, "createNamespace", []string{"true, false"}},
		{"nothing to deploy", map[string]string{"greptimedb": "<unset>", "quasardb": "<unset>"}, "greptimedb", []string{"deploys nothing"}},
		{"clusters not a list", map[string]string{"greptimedb": `{"name":"x"}`}, "greptimedb", []string{"list of clusters"}},
		{"clusters not JSON", map[string]string{"greptimedb": `[{name: x}]`}, "greptimedb", []string{"not valid JSON"}},
		{"cluster without a name", map[string]string{"greptimedb": `[{}]`}, "greptimedb[0].name", []string{"required"}},
		{"cluster name not a DNS label", map[string]string{"greptimedb": `[{"name":"Metrics_1"}]`}, "greptimedb[0].name", []string{`"Metrics_1"`}},
		{"cluster name too long", map[string]string{"greptimedb": `[{"name":"a-very-long-cluster-name-for-metrics"}]`}, "greptimedb[0].name", []string{"too long", "at most 30"}},
		{"duplicate cluster names across kinds", map[string]string{"quasardb": `[{"name":"metrics"}]`}, "quasardb[0].name", []string{"already used by greptimedb[0]"}},
		{"unknown key (typo)", map[string]string{"greptimedb": `[{"name":"m","etcd":{"replica":3}}]`}, "greptimedb[0].etcd.replica", []string{"unknown key", "replicas"}},
		{"replicas of the wrong type", map[string]string{"greptimedb": `[{"name":"m","meta":{"replicas":"two"}}]`}, "greptimedb[0].meta.replicas", []string{"whole number"}},
		{"even etcd member count", map[string]string{"greptimedb": `[{"name":"m","etcd":{"replicas":4}}]`}, "greptimedb[0].etcd.replicas", []string{"4", "odd member count (1, 3, 5, 7)"}},
		{"too many etcd members", map[string]string{"greptimedb": `[{"name":"m","etcd":{"replicas":9}}]`}, "greptimedb[0].etcd.replicas", []string{"odd member count"}},
		{"zero datanodes", map[string]string{"greptimedb": `[{"name":"m","datanode":{"replicas":0}}]`}, "greptimedb[0].datanode.replicas", []string{"between 1 and 100"}},
		{"negative frontends", map[string]string{"greptimedb": `[{"name":"m","frontend":{"replicas":-1}}]`}, "greptimedb[0].frontend.replicas", []string{"between 1 and 100"}},
		{"bad CPU quantity", map[string]string{"greptimedb": `[{"name":"m","meta":{"resources":{"requests":{"cpu":"half"}}}}]`}, "greptimedb[0].meta.resources.requests.cpu", []string{`"half"`, "quantity"}},
		{"limit below request", map[string]string{"greptimedb": `[{"name":"m","datanode":{"resources":{"requests":{"memory":"2Gi"},"limits":{"memory":"1Gi"}}}}]`}, "greptimedb[0].datanode.resources.limits.memory", []string{"below the request"}},
		{"zero storage size", map[string]string{"greptimedb": `[{"name":"m","datanode":{"storage":{"size":"0"}}}]`}, "greptimedb[0].datanode.storage.size", []string{"greater than zero"}},
		{"bad storage class", map[string]string{"greptimedb": `[{"name":"m","etcd":{"storage":{"storageClass":"Fast SSD"}}}]`}, "greptimedb[0].etcd.storage.storageClass", []string{"storage class"}},
		{"unpinned image", map[string]string{"greptimedb": `[{"name":"m","image":"greptime/greptimedb"}]`}, "greptimedb[0].image", []string{"pin a tag"}},
		{"latest image", map[string]string{"quasardb": `[{"name":"q","image":"bureau14/qdb:latest"}]`}, "quasardb[0].image", []string{"instead of latest"}},
		{"unknown anti-affinity", map[string]string{"greptimedb": `[{"name":"m","antiAffinity":"strict"}]`}, "greptimedb[0].antiAffinity", []string{"none, preferred, required"}},
		{"unknown storage type", map[string]string{"greptimedb": `[{"name":"m","datanode":{"objectStorage":{"type":"Ceph"}}}]`}, "greptimedb[0].datanode.objectStorage.type", []string{`"Ceph"`, "File", "S3"}},
		{"S3 without a bucket", map[string]string{"greptimedb": `[{"name":"m","datanode":{"objectStorage":{"type":"S3","accessKeyId":"k","secretAccessKey":"s"}}}]`}, "greptimedb[0].datanode.objectStorage.bucket", []string{"required for S3"}},
		{"S3 without credentials", map[string]string{"greptimedb": `[{"name":"m","datanode":{"objectStorage":{"type":"S3","bucket":"bkt","region":"us-east-1"}}}]`}, "greptimedb[0].datanode.objectStorage.accessKeyId", []string{"pulumi config set --secret"}},
		{"S3 endpoint not a URL", map[string]string{"greptimedb": `[{"name":"m","datanode":{"objectStorage":{"type":"S3","bucket":"bkt","region":"us-east-1","accessKeyId":"k","secretAccessKey":"s","endpoint":"s3.local"}}}]`}, "greptimedb[0].datanode.objectStorage.endpoint", []string{"http(s) URL"}},
		{"external etcd endpoint without a port", map[string]string{"greptimedb": `[{"name":"m","etcd":{"endpoints":["etcd.example"]}}]`}, "greptimedb[0].etcd.endpoints[0]", []string{"host:port"}},
		{"service annotation key not a qualified name", map[string]string{"greptimedb": `[{"name":"m","frontend":{"service":{"annotations":{"bad key!":"x"}}}}]`},
			"greptimedb[0].frontend.service.annotations", []string{"bad key!", "name part must consist of alphanumeric"}},
		{"service annotation the program sets", map[string]string{"greptimedb": `[{"name":"m","frontend":{"serviceType":"LoadBalancer","service":{"annotations":{"pulumi.com/skipAwait":"false"}}}}]`},
			"greptimedb[0].frontend.service.annotations[pulumi.com/skipAwait]", []string{`"false"`, "greptimedb[0].frontend.loadBalancer.waitForAddress"}},
		{"service label value too long", map[string]string{"greptimedb": `[{"name":"m","frontend":{"service":{"labels":{"team":"` + strings.Repeat("x", 64) + `"}}}}]`},
			"greptimedb[0].frontend.service.labels", []string{"must be no more than 63"}},
		{"service label the program sets", map[string]string{"greptimedb": `[{"name":"m","frontend":{"service":{"labels":{"app.kubernetes.io/instance":"other"}}}}]`},
			"greptimedb[0].frontend.service.labels[app.kubernetes.io/instance]", []string{`"other"`, "selects the pods", "another key"}},
		{"load balancer class on a ClusterIP Service", map[string]string{"greptimedb": `[{"name":"m","frontend":{"service":{"loadBalancerClass":"example.com/lb"}}}]`},
			"greptimedb[0].frontend.service.loadBalancerClass", []string{`"example.com/lb"`, "only a LoadBalancer Service", "set greptimedb[0].frontend.serviceType to LoadBalancer"}},
		{"load balancer class not a name", map[string]string{"greptimedb": `[{"name":"m","frontend":{"serviceType":"LoadBalancer","service":{"loadBalancerClass":"not a class"}}}]`},
			"greptimedb[0].frontend.service.loadBalancerClass", []string{`"not a class"`, "example.com/internal-vip"}},
		{"source range not a CIDR", map[string]string{"greptimedb": `[{"name":"m","frontend":{"serviceType":"LoadBalancer","service":{"loadBalancerSourceRanges":["10.0.0.1"]}}}]`},
			"greptimedb[0].frontend.service.loadBalancerSourceRanges[0]", []string{`"10.0.0.1"`, "not a CIDR block"}},
		{"source ranges on a NodePort Service", map[string]string{"greptimedb": `[{"name":"m","frontend":{"serviceType":"NodePort","service":{"loadBalancerSourceRanges":["10.0.0.0/8"]}}}]`},
			"greptimedb[0].frontend.service.loadBalancerSourceRanges", []string{"only a LoadBalancer Service", "serviceType is NodePort"}},
		{"unknown external traffic policy", map[string]string{"greptimedb": `[{"name":"m","frontend":{"serviceType":"NodePort","service":{"externalTrafficPolicy":"local"}}}]`},
			"greptimedb[0].frontend.service.externalTrafficPolicy", []string{`"local"`, "Cluster, Local"}},
		{"external traffic policy on a ClusterIP Service", map[string]string{"greptimedb": `[{"name":"m","frontend":{"service":{"externalTrafficPolicy":"Local"}}}]`},
			"greptimedb[0].frontend.service.externalTrafficPolicy", []string{`"Local"`, "LoadBalancer or NodePort"}},
		{"ingress without a host", map[string]string{"greptimedb": `[{"name":"m","frontend":{"ingress":{"enabled":true}}}]`},
			"greptimedb[0].frontend.ingress.hosts", []string{"needs a host", "greptimedb[0].frontend.ingress.hosts[0]", "greptimedb[0].frontend.ingress.enabled"}},
		{"ingress host not a DNS name", map[string]string{"greptimedb": `[{"name":"m","frontend":{"ingress":{"enabled":true,"hosts":["Metrics.Example.com"]}}}]`},
			"greptimedb[0].frontend.ingress.hosts[0]", []string{`"Metrics.Example.com"`, "*.example.com"}},
		{"ingress host an IP address", map[string]string{"greptimedb": `[{"name":"m","frontend":{"ingress":{"enabled":true,"hosts":["10.0.0.1"]}}}]`},
			"greptimedb[0].frontend.ingress.hosts[0]", []string{`"10.0.0.1"`, "not an IP address"}},
		{"ingress wildcard deeper than one label", map[string]string{"greptimedb": `[{"name":"m","frontend":{"ingress":{"enabled":true,"hosts":["a.*.example.com"]}}}]`},
			"greptimedb[0].frontend.ingress.hosts[0]", []string{`"a.*.example.com"`}},
		{"ingress TLS Secret not a name", map[string]string{"greptimedb": `[{"name":"m","frontend":{"ingress":{"enabled":true,"hosts":["m.example.com"],"tlsSecretName":"TLS_Secret"}}}]`},
			"greptimedb[0].frontend.ingress.tlsSecretName", []string{`"TLS_Secret"`, "not a Secret name"}},
		{"ingress class not a name", map[string]string{"greptimedb": `[{"name":"m","frontend":{"ingress":{"enabled":true,"hosts":["m.example.com"],"ingressClassName":"Nginx!"}}}]`},
			"greptimedb[0].frontend.ingress.ingressClassName", []string{`"Nginx!"`, "not an IngressClass name"}},
		{"user permission upstream does not know", map[string]string{"greptimedb": `[{"name":"m","frontend":{"auth":{"users":[{"username":"r","permission":"admin"}]}}}]`},
			"greptimedb[0].frontend.auth.users[0].permission", []string{`"admin"`, "readwrite, read_write, rw, readonly, read_only, ro, writeonly, write_only, wo"}},
		{"user name that breaks the user file", map[string]string{"greptimedb": `[{"name":"m","frontend":{"auth":{"users":[{"username":"a:b","permission":"ro"}]}}}]`},
			"greptimedb[0].frontend.auth.users[0].username", []string{`"a:b"`, "letters, digits"}},
		{"user named twice", map[string]string{"greptimedb": `[{"name":"m","frontend":{"auth":{"users":[{"username":"admin","permission":"ro"}]}}}]`},
			"greptimedb[0].frontend.auth.users[0].username", []string{`"admin"`, "greptimedb[0].frontend.auth.username", "name each user once"}},
		{"user password Secret not a name", map[string]string{"greptimedb": `[{"name":"m","frontend":{"auth":{"users":[{"username":"r","permission":"ro","passwordSecret":{"name":"Bad_Name","key":"pw"}}]}}}]`},
			"greptimedb[0].frontend.auth.users[0].passwordSecret.name", []string{`"Bad_Name"`, "not a Secret name"}},
		{"users with auth off", map[string]string{"greptimedb": `[{"name":"m","frontend":{"auth":{"enabled":false,"users":[{"username":"r","permission":"ro"}]}}}]`},
			"greptimedb[0].frontend.auth.users", []string{"authentication is off", "greptimedb[0].frontend.auth.enabled"}},
		{"users beside a user file Secret", map[string]string{"greptimedb": `[{"name":"m","frontend":{"auth":{"usersSecretRef":{"name":"u","key":"passwd"},"users":[{"username":"r","permission":"ro"}]}}}]`},
			"greptimedb[0].frontend.auth.users", []string{"greptimedb[0].frontend.auth.usersSecretRef is also set", "user:permission=password"}},
		{"unknown frontend service type", map[string]string{"greptimedb": `[{"name":"m","frontend":{"serviceType":"Ingress"}}]`}, "greptimedb[0].frontend.serviceType", []string{"ClusterIP, NodePort, LoadBalancer"}},
		{"load-balancer wait without a LoadBalancer", map[string]string{"greptimedb": `[{"name":"m","frontend":{"loadBalancer":{"waitForAddress":true}}}]`}, "greptimedb[0].frontend.loadBalancer.waitForAddress", []string{"only a LoadBalancer Service", "serviceType to LoadBalancer"}},
		{"load-balancer wait unbounded", map[string]string{"greptimedb": `[{"name":"m","frontend":{"serviceType":"LoadBalancer","loadBalancer":{"waitForAddress":true,"timeoutSeconds":0}}}]`}, "greptimedb[0].frontend.loadBalancer.timeoutSeconds", []string{"0", "between 1 and 3600"}},
		{"region failover on the local WAL", map[string]string{"greptimedb": `[{"name":"m","meta":{"enableRegionFailover":true}}]`}, "greptimedb[0].meta.enableRegionFailover", []string{"remote WAL", "metasrv refuses to start", "greptimedb[0].wal.provider to kafka"}},
		{"region failover without shared storage", map[string]string{"greptimedb": `[{"name":"m","meta":{"enableRegionFailover":true},"wal":{"provider":"kafka","brokerEndpoints":["kafka:9092"]}}]`}, "greptimedb[0].meta.enableRegionFailover", []string{"shared storage", "greptimedb[0].datanode.objectStorage.type to S3"}},
		{"kafka WAL without brokers", map[string]string{"greptimedb": `[{"name":"m","wal":{"provider":"kafka"}}]`}, "greptimedb[0].wal.brokerEndpoints", []string{"required with the kafka WAL", "pulumi config set --path 'greptimedb[0].wal.brokerEndpoints[0]'"}},
		{"kafka broker without a port", map[string]string{"greptimedb": `[{"name":"m","wal":{"provider":"kafka","brokerEndpoints":["kafka"]}}]`}, "greptimedb[0].wal.brokerEndpoints[0]", []string{"host:port"}},
		{"unknown WAL provider", map[string]string{"greptimedb": `[{"name":"m","wal":{"provider":"rocksdb"}}]`}, "greptimedb[0].wal.provider", []string{`"rocksdb"`, "raft_engine", "kafka"}},
		{"unknown log level", map[string]string{"greptimedb": `[{"name":"m","logging":{"level":"verbose"}}]`}, "greptimedb[0].logging.level", []string{`"verbose"`, "error, warn, info, debug, trace"}},
		{"unknown log format", map[string]string{"greptimedb": `[{"name":"m","logging":{"format":"xml"}}]`}, "greptimedb[0].logging.format", []string{`"xml"`, "text, json"}},
		{"auth username with a separator", map[string]string{"greptimedb": `[{"name":"m","frontend":{"auth":{"username":"ad=min"}}}]`}, "greptimedb[0].frontend.auth.username", []string{"no '='"}},
		{"QuasarDB 3 nodes without a license", map[string]string{"quasardb": `[{"name":"q","replicas":3}]`}, "quasardb[0].replicas", []string{"community edition", "2 nodes"}},
		{"prod QuasarDB without a license", map[string]string{"profile": "prod", "quasardb": `[{"name":"q","security":{"enabled":false}}]`}, "quasardb[0].license", []string{"required by this profile", "--secret"}},
		{"license and licenseFile both", map[string]string{"quasardb": `[{"name":"q","license":"k","licenseFile":"/x"}]`}, "quasardb[0].licenseFile", []string{"either license or licenseFile"}},
		{"license file missing", map[string]string{"quasardb": `[{"name":"q","licenseFile":"/nonexistent/qdb.key"}]`}, "quasardb[0].licenseFile", []string{"cannot read"}},
		{"license file empty", map[string]string{"quasardb": `[{"name":"q","licenseFile":"` + emptyLicense + `"}]`}, "quasardb[0].licenseFile", []string{"empty"}},
		{"replication above replicas", map[string]string{"quasardb": `[{"name":"q","replicas":2,"replication":3}]`}, "quasardb[0].replication", []string{"between 1 and the replica count (2)"}},
		{"security without a private key", map[string]string{"quasardb": `[{"name":"q","security":{"enabled":true,"userList":"u","clusterPublicKey":"p"}}]`}, "quasardb[0].security.clusterPrivateKey", []string{"required when security is enabled"}},
		{"QuasarDB without a memory limit", map[string]string{"quasardb": `[{"name":"q","resources":{"limits":{"memory":""}}}]`}, "quasardb[0].resources.limits.memory", []string{"memory limiter"}},
		{"probe period zero", map[string]string{"quasardb": `[{"name":"q","probes":{"readiness":{"periodSeconds":0}}}]`}, "quasardb[0].probes.readiness.periodSeconds", []string{"1 or more"}},
		{"network policy CIDR", map[string]string{"greptimedb": `[{"name":"m","networkPolicy":{"clientCidrs":["10.0.0.0/33"]}}]`}, "greptimedb[0].networkPolicy.clientCidrs[0]", []string{"CIDR"}},
		{"network policy namespace", map[string]string{"quasardb": `[{"name":"q","networkPolicy":{"clientNamespaces":["Apps"]}}]`}, "quasardb[0].networkPolicy.clientNamespaces[0]", []string{"namespace name"}},
		// The client keys moved from the stack's networkPolicy to each cluster's.
		{"stack-wide client namespaces", map[string]string{"networkPolicy": `{"enabled":true,"clientNamespaces":["apps"]}`}, "networkPolicy.clientNamespaces",
			[]string{"moved per cluster", "greptimedb[i].networkPolicy.clientNamespaces", "quasardb[i].networkPolicy.clientNamespaces"}},
		{"stack-wide client CIDRs", map[string]string{"networkPolicy": `{"clientCidrs":["10.0.0.0/8"]}`}, "networkPolicy.clientCidrs",
			[]string{"moved per cluster", "greptimedb[i].networkPolicy.clientCidrs", "quasardb[i].networkPolicy.clientCidrs"}},
		{"data safety not an object", map[string]string{"dataSafety": `true`}, "dataSafety", []string{"must be an object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := requireProblem(t, with(tt.config), tt.key, tt.message)
			assert.Contains(t, err.Error(), tt.key, "the error a user sees names the key")
		})
	}
	assert.GreaterOrEqual(t, len(tests), 30)
}

// TestEveryProblemIsReportedAtOnce: one run shows everything to fix.
func TestEveryProblemIsReportedAtOnce(t *testing.T) {
	_, err := stacks.Load(stacks.MapLookup(with(map[string]string{
		"namespace":  "Bad_NS",
		"greptimedb": `[{"name":"m","etcd":{"replicas":2},"datanode":{"replicas":0}}]`,
		"quasardb":   `[{"name":"q","replicas":3}]`,
	})))
	var cfgErr *stacks.ConfigError
	require.ErrorAs(t, err, &cfgErr)
	assert.Equal(t, []string{
		"greptimedb[0].datanode.replicas",
		"greptimedb[0].etcd.replicas",
		"namespace",
		"quasardb[0].replicas",
	}, cfgErr.Keys())
	assert.True(t, strings.HasPrefix(err.Error(), "invalid stack configuration (4 problems)"), err.Error())
}

// TestSecretValuesAreNeverEchoed: a rejected secret shows as [secret], never its value.
func TestSecretValuesAreNeverEchoed(t *testing.T) {
	_, err := stacks.Load(stacks.MapLookup(with(map[string]string{
		"quasardb": `[{"name":"q","license":"SUPER-SECRET-LICENSE","licenseFile":"/x"}]`,
	})))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SUPER-SECRET-LICENSE")
}

// TestInvalidConfigRegistersNothing: validation happens before any resource exists.
func TestInvalidConfigRegistersNothing(t *testing.T) {
	res, err := mockrun.Run(stacks.Program, mockrun.Options{Config: with(map[string]string{
		"greptimedb": `[{"name":"m","etcd":{"replicas":2}}]`,
	})})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "greptimedb[0].etcd.replicas")
	assert.Empty(t, res.Resources, "no resource may be registered for an invalid stack")
}

// requireProblem loads config, which must fail with a problem naming key whose
// text holds every string of message; it returns the error the user sees.
func requireProblem(t *testing.T, config map[string]string, key string, message []string) error {
	t.Helper()
	_, err := stacks.Load(stacks.MapLookup(config))
	require.Error(t, err)
	var cfgErr *stacks.ConfigError
	require.True(t, errors.As(err, &cfgErr), "want a *stacks.ConfigError, got %T: %v", err, err)
	var problem *stacks.Problem
	for i := range cfgErr.Problems {
		if cfgErr.Problems[i].Key == key {
			problem = &cfgErr.Problems[i]
		}
	}
	require.NotNil(t, problem, "no problem names %q; got %v", key, cfgErr.Keys())
	for _, want := range message {
		assert.Contains(t, problem.String(), want)
	}
	return err
}
