package stacks

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	etcdcomponent "tsdb-platform/components/etcd"
	"tsdb-platform/components/greptimedb"
)

// MaxClusterNameLength keeps every derived object name ("<name>-datanode-0", the
// StatefulSet's controller-revision-hash label) within Kubernetes' 63-character limits.
const MaxClusterNameLength = 30

// validate checks a decoded spec and adds every problem it finds.
func validate(spec *Spec, ps *problems) {
	validateTarget(spec.Target, ps)
	validateNetworkPolicy(spec.NetworkPolicy, ps)
	if len(spec.GreptimeDB) == 0 && len(spec.QuasarDB) == 0 {
		ps.add(KeyGreptimeDB, nil, "the stack deploys nothing: add a GreptimeDB or QuasarDB cluster, "+
			"e.g. `pulumi config set --path 'greptimedb[0].name' metrics`")
	}
	names := map[string]string{}
	checkName := func(key, name string) {
		if checkClusterName(key+".name", name, ps) {
			if other, dup := names[name]; dup {
				ps.add(key+".name", name, "already used by %s; cluster names must be unique in a stack", other)
			}
			names[name] = key
		}
	}
	for i, c := range spec.GreptimeDB {
		key := fmt.Sprintf("%s[%d]", KeyGreptimeDB, i)
		checkName(key, c.Name)
		validateGreptimeDB(key, c, ps)
	}
	for i, c := range spec.QuasarDB {
		key := fmt.Sprintf("%s[%d]", KeyQuasarDB, i)
		checkName(key, c.Name)
		validateQuasarDB(key, c, ps)
	}
}

func validateTarget(t Target, ps *problems) {
	if errs := validation.IsDNS1123Label(t.Namespace); len(errs) > 0 {
		ps.add(KeyNamespace, t.Namespace, "not a valid namespace name: %s", strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(t.ClusterDomain); len(errs) > 0 {
		ps.add(KeyClusterDomain, t.ClusterDomain, "not a valid DNS domain: %s", strings.Join(errs, "; "))
	}
	if t.RenderDir == "" && t.KubeContext == "" && t.Kubeconfig == "" {
		ps.add(KeyKubeContext, nil, "required: name the target explicitly, so a stack never deploys to whatever "+
			"context is current; set kubeContext (or kubeconfig), or renderDir to write manifests instead")
	}
	if t.RenderDir != "" && (t.KubeContext != "" || t.Kubeconfig != "") {
		ps.add(KeyRenderDir, t.RenderDir, "render mode writes manifests instead of deploying; "+
			"it cannot be combined with kubeContext or kubeconfig (unset those, or unset renderDir)")
	}
}

func validateNetworkPolicy(n NetworkPolicy, ps *problems) {
	for i, ns := range n.ClientNamespaces {
		key := fmt.Sprintf("%s.clientNamespaces[%d]", KeyNetworkPolicy, i)
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			ps.add(key, ns, "not a valid namespace name: %s", strings.Join(errs, "; "))
		}
	}
	for i, cidr := range n.ClientCIDRs {
		key := fmt.Sprintf("%s.clientCidrs[%d]", KeyNetworkPolicy, i)
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			ps.add(key, cidr, "not a CIDR block; want e.g. 10.0.0.0/8")
		}
	}
}

func checkClusterName(key, name string, ps *problems) bool {
	if name == "" {
		ps.add(key, nil, "required: every cluster needs a name (a DNS-1123 label, at most %d characters)", MaxClusterNameLength)
		return false
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		ps.add(key, name, "not a valid name: %s", strings.Join(errs, "; "))
		return false
	}
	if len(name) > MaxClusterNameLength {
		ps.add(key, name, "too long (%d characters); at most %d, so derived object names fit Kubernetes' limits", len(name), MaxClusterNameLength)
		return false
	}
	return true
}

func validateGreptimeDB(key string, c GreptimeDBCluster, ps *problems) {
	checkImage(key+".image", c.Image, ps)
	checkImage(key+".waitImage", c.WaitImage, ps)
	checkAntiAffinity(key+".antiAffinity", c.AntiAffinity, ps)

	etcd := c.Etcd
	if etcd.Deployed() {
		if !etcdcomponent.ValidMemberCount(etcd.Replicas) {
			ps.add(key+".etcd.replicas", etcd.Replicas, "etcd needs an odd member count (1, 3, 5, 7)")
		}
		checkImage(key+".etcd.image", etcd.Image, ps)
		checkResources(key+".etcd.resources", etcd.Resources, ps)
		checkStorage(key+".etcd.storage", etcd.Storage, ps)
	} else {
		for i, ep := range etcd.Endpoints {
			checkHostPort(fmt.Sprintf("%s.etcd.endpoints[%d]", key, i), ep, ps)
		}
	}

	checkReplicas(key+".meta.replicas", c.Meta.Replicas, ps)
	checkResources(key+".meta.resources", c.Meta.Resources, ps)
	validateWAL(key, c, ps)

	checkReplicas(key+".datanode.replicas", c.Datanode.Replicas, ps)
	checkResources(key+".datanode.resources", c.Datanode.Resources, ps)
	checkStorage(key+".datanode.storage", c.Datanode.Storage, ps)
	checkObjectStorage(key+".datanode.objectStorage", c.Datanode.ObjectStorage, ps)

	checkReplicas(key+".frontend.replicas", c.Frontend.Replicas, ps)
	checkResources(key+".frontend.resources", c.Frontend.Resources, ps)
	switch c.Frontend.ServiceType {
	case ServiceTypeClusterIP, ServiceTypeNodePort, ServiceTypeLoadBalancer:
	default:
		ps.add(key+".frontend.serviceType", c.Frontend.ServiceType, "allowed: %s, %s, %s",
			ServiceTypeClusterIP, ServiceTypeNodePort, ServiceTypeLoadBalancer)
	}
	if !slices.Contains(greptimedb.LogLevels, c.Logging.Level) {
		ps.add(key+".logging.level", c.Logging.Level, "allowed: %s", strings.Join(greptimedb.LogLevels, ", "))
	}
	if !slices.Contains(greptimedb.LogFormats, c.Logging.Format) {
		ps.add(key+".logging.format", c.Logging.Format, "allowed: %s", strings.Join(greptimedb.LogFormats, ", "))
	}
	lb := c.Frontend.LoadBalancer
	if lb.TimeoutSeconds < 1 || lb.TimeoutSeconds > 3600 {
		ps.add(key+".frontend.loadBalancer.timeoutSeconds", lb.TimeoutSeconds, "must be between 1 and 3600 seconds")
	}
	if lb.WaitForAddress && c.Frontend.ServiceType != ServiceTypeLoadBalancer {
		ps.add(key+".frontend.loadBalancer.waitForAddress", lb.WaitForAddress,
			"only a LoadBalancer Service gets an address; set %s.frontend.serviceType to %s or waitForAddress to false",
			key, ServiceTypeLoadBalancer)
	}
	if c.Frontend.Auth.Enabled {
		u := c.Frontend.Auth.Username
		if !greptimedb.ValidUsername(u) {
			ps.add(key+".frontend.auth.username", u, "required when auth is enabled; letters, digits, '-' and '_' only (no '=', ':' or spaces)")
		}
	}
}

func checkObjectStorage(key string, o ObjectStorage, ps *problems) {
	switch o.Type {
	case StorageTypeFile:
		return
	case StorageTypeS3:
	default:
		ps.add(key+".type", o.Type, "unknown storage type; allowed: %s (the datanode's volume), %s (S3-compatible object storage)",
			StorageTypeFile, StorageTypeS3)
		return
	}
	if o.Bucket == "" {
		ps.add(key+".bucket", nil, "required for S3 storage")
	}
	secretHint := func(field string) string {
		return fmt.Sprintf("required for S3 storage; set it as a secret: `pulumi config set --secret --path '%s.%s' <value>`", key, field)
	}
	if o.AccessKeyID == "" {
		ps.unset(key+".accessKeyId", "%s", secretHint("accessKeyId"))
	}
	if o.SecretAccessKey == "" {
		ps.unset(key+".secretAccessKey", "%s", secretHint("secretAccessKey"))
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add(key+".endpoint", o.Endpoint, "not an http(s) URL; want e.g. https://s3.eu-west-1.amazonaws.com")
		}
	}
}

func validateQuasarDB(key string, c QuasarDBCluster, ps *problems) {
	checkImage(key+".image", c.Image, ps)
	checkAntiAffinity(key+".antiAffinity", c.AntiAffinity, ps)
	checkReplicas(key+".replicas", c.Replicas, ps)
	checkResources(key+".resources", c.Resources, ps)
	if c.Resources.Limits.Memory == "" {
		ps.add(key+".resources.limits.memory", nil, "required: QuasarDB's memory limiter is set below the container's memory limit")
	}
	checkStorage(key+".storage", c.Storage, ps)

	licensed := c.License != ""
	if c.RequireLicense && !licensed && c.LicenseFile == "" {
		ps.unset(key+".license", "required by this profile: set it as a secret with "+
			"`pulumi config set --secret --path '%s.license' <key>` or give licenseFile", key)
	} else if !licensed && c.LicenseFile == "" && c.Replicas > 2 {
		ps.add(key+".replicas", c.Replicas, "without a license QuasarDB runs as the community edition, limited to 2 nodes; "+
			"set %s.license (secret) or %s.licenseFile, or use at most 2 replicas", key, key)
	}
	if c.Replication < 1 || (c.Replicas >= 1 && c.Replication > c.Replicas) {
		ps.add(key+".replication", c.Replication, "replication factor must be between 1 and the replica count (%d)", c.Replicas)
	}
	if c.Security.Enabled {
		if c.Security.ClusterPrivateKey == "" {
			ps.unset(key+".security.clusterPrivateKey", "required when security is enabled; set it as a secret: "+
				"`pulumi config set --secret --path '%s.security.clusterPrivateKey' \"$(cat cluster_private.key)\"`", key)
		}
		if c.Security.UserList == "" {
			ps.unset(key+".security.userList", "required when security is enabled; set it as a secret: "+
				"`pulumi config set --secret --path '%s.security.userList' \"$(cat users.cfg)\"`", key)
		}
		if c.Security.ClusterPublicKey == "" {
			ps.unset(key+".security.clusterPublicKey", "required when security is enabled: clients need it to connect; "+
				"set it with `pulumi config set --path '%s.security.clusterPublicKey' \"$(cat cluster_public.key)\"`", key)
		}
	}
	checkProbe(key+".probes.readiness", c.Probes.Readiness, ps)
	checkProbe(key+".probes.liveness", c.Probes.Liveness, ps)
}

func checkProbe(key string, p ProbeTiming, ps *problems) {
	if p.InitialDelaySeconds < 0 {
		ps.add(key+".initialDelaySeconds", p.InitialDelaySeconds, "must be 0 or more")
	}
	positive := []struct {
		field string
		value int
	}{{"periodSeconds", p.PeriodSeconds}, {"timeoutSeconds", p.TimeoutSeconds}, {"failureThreshold", p.FailureThreshold}}
	for _, f := range positive {
		if f.value < 1 {
			ps.add(key+"."+f.field, f.value, "must be 1 or more")
		}
	}
}

func checkReplicas(key string, n int, ps *problems) {
	if n < 1 || n > 100 {
		ps.add(key, n, "must be between 1 and 100")
	}
}

func checkAntiAffinity(key, v string, ps *problems) {
	switch v {
	case AntiAffinityNone, AntiAffinityPreferred, AntiAffinityRequired:
	default:
		ps.add(key, v, "allowed: %s, %s, %s", AntiAffinityNone, AntiAffinityPreferred, AntiAffinityRequired)
	}
}

// checkImage requires a pinned image reference: a tag other than "latest", or a digest.
func checkImage(key, image string, ps *problems) {
	if image == "" {
		ps.add(key, nil, "required: an image reference with a pinned tag, e.g. repo/name:v1.2.3")
		return
	}
	if strings.ContainsAny(image, " \t\n") {
		ps.add(key, image, "not an image reference (contains spaces)")
		return
	}
	if strings.Contains(image, "@sha256:") {
		return
	}
	name := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(name, ":")
	if i < 0 || i == len(name)-1 {
		ps.add(key, image, "pin a tag or digest (e.g. %s:<version>); an untagged image means latest and changes under you", image)
		return
	}
	if name[i+1:] == "latest" {
		ps.add(key, image, "pin a version tag or digest instead of latest")
	}
}

func checkResources(key string, r Resources, ps *problems) {
	req := [2]*resource.Quantity{
		checkQuantity(key+".requests.cpu", r.Requests.CPU, ps),
		checkQuantity(key+".requests.memory", r.Requests.Memory, ps),
	}
	lim := [2]*resource.Quantity{
		checkQuantity(key+".limits.cpu", r.Limits.CPU, ps),
		checkQuantity(key+".limits.memory", r.Limits.Memory, ps),
	}
	for i, name := range []string{"cpu", "memory"} {
		if req[i] != nil && lim[i] != nil && lim[i].Cmp(*req[i]) < 0 {
			ps.add(key+".limits."+name, lim[i].String(), "is below the request (%s); a limit must be at least the request", req[i].String())
		}
	}
}

// checkQuantity parses an optional positive quantity; nil means unset or invalid.
func checkQuantity(key, v string, ps *problems) *resource.Quantity {
	if v == "" {
		return nil
	}
	q, err := resource.ParseQuantity(v)
	if err != nil {
		ps.add(key, v, "not a Kubernetes quantity; want e.g. 500m, 2, 512Mi, 4Gi")
		return nil
	}
	if q.Sign() <= 0 {
		ps.add(key, v, "must be greater than zero")
		return nil
	}
	return &q
}

func checkStorage(key string, s Storage, ps *problems) {
	if s.Size == "" {
		ps.add(key+".size", nil, "required: a volume size such as 10Gi")
	} else {
		checkQuantity(key+".size", s.Size, ps)
	}
	if s.StorageClass != "" {
		if errs := validation.IsDNS1123Subdomain(s.StorageClass); len(errs) > 0 {
			ps.add(key+".storageClass", s.StorageClass, "not a valid storage class name: %s", strings.Join(errs, "; "))
		}
	}
}

func checkHostPort(key, v string, ps *problems) {
	host, port, err := net.SplitHostPort(v)
	if err == nil && host != "" {
		if n, perr := strconv.Atoi(port); perr == nil && n > 0 && n < 65536 {
			return
		}
	}
	ps.add(key, v, "not host:port; want e.g. etcd.example.svc:2379")
}

// validateWAL checks the write-ahead log and what depends on it: metasrv's region
// failover replays a failed datanode's regions elsewhere, so it needs a WAL that
// outlives the datanode (kafka) and data that every datanode can read (object
// storage). GreptimeDB v1.1.4's metasrv refuses to start otherwise
// (src/meta-srv/src/metasrv/builder.rs; config/metasrv.example.toml).
func validateWAL(key string, c GreptimeDBCluster, ps *problems) {
	w := c.WAL
	switch w.Provider {
	case greptimedb.WALRaftEngine:
	case greptimedb.WALKafka:
		if len(w.BrokerEndpoints) == 0 {
			ps.add(key+".wal.brokerEndpoints", nil, "required with the kafka WAL: "+
				"`pulumi config set --path '%s.wal.brokerEndpoints[0]' kafka-0.kafka:9092`", key)
		}
		for i, ep := range w.BrokerEndpoints {
			checkHostPort(fmt.Sprintf("%s.wal.brokerEndpoints[%d]", key, i), ep, ps)
		}
	default:
		ps.add(key+".wal.provider", w.Provider, "allowed: %s (on each datanode's volume), %s (remote)",
			greptimedb.WALRaftEngine, greptimedb.WALKafka)
		return
	}
	if !c.Meta.EnableRegionFailover {
		return
	}
	if c.WAL.Provider != greptimedb.WALKafka {
		ps.add(key+".meta.enableRegionFailover", true, "region failover needs a remote WAL, or metasrv refuses to start; "+
			"set %s.wal.provider to %s (with %s.wal.brokerEndpoints), or enableRegionFailover to false",
			key, greptimedb.WALKafka, key)
	} else if c.Datanode.ObjectStorage.Type == StorageTypeFile {
		ps.add(key+".meta.enableRegionFailover", true, "region failover needs shared storage that every datanode reads; "+
			"set %s.datanode.objectStorage.type to %s, or enableRegionFailover to false", key, StorageTypeS3)
	}
}
