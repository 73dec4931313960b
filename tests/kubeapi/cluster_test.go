package kubeapi_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"tsdb-platform/tests/kubeapi"
)

func TestFindClusterBinariesExplainsWhatIsMissing(t *testing.T) {
	t.Setenv(kubeapi.EnvKwok, filepath.Join(t.TempDir(), "no-such-kwok"))
	_, err := kubeapi.FindClusterBinaries()
	var missing *kubeapi.MissingBinaryError
	require.ErrorAs(t, err, &missing)
	assert.Contains(t, err.Error(), "no-such-kwok")
	assert.Contains(t, err.Error(), "bash scripts/sim-tools.sh")
}

// TestClusterRunsWorkloads: on a simulated cluster, a claim binds, anti-affine
// replicas land on distinct nodes and get Ready with IPs, a Service gets their
// endpoints, a Job completes, and the kubeconfig reaches the cluster.
func TestClusterRunsWorkloads(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := kubeapi.StartCluster(t, kubeapi.ClusterOptions{Nodes: 3})
	t.Logf("simulated cluster started in %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := c.Clientset()
	const ns = "sim-smoke"
	require.NoError(t, c.EnsureNamespace(ctx, ns, nil))

	t.Run("nodes", func(t *testing.T) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		require.Len(t, nodes.Items, 3)
		zones := map[string]bool{}
		for _, n := range nodes.Items {
			assert.Equal(t, n.Name, n.Labels["kubernetes.io/hostname"])
			zones[n.Labels["topology.kubernetes.io/zone"]] = true
		}
		assert.Len(t, zones, 3, "one node per zone")
	})

	t.Run("kubeconfig", func(t *testing.T) {
		cfg, err := clientcmd.LoadFromFile(c.Kubeconfig())
		require.NoError(t, err)
		assert.Equal(t, kubeapi.ContextName, cfg.CurrentContext)
		assert.Equal(t, kubeapi.ContextName, c.Context())
		rc, err := clientcmd.NewNonInteractiveClientConfig(*cfg, c.Context(), &clientcmd.ConfigOverrides{}, nil).ClientConfig()
		require.NoError(t, err)
		other, err := kubernetes.NewForConfig(rc)
		require.NoError(t, err)
		_, err = other.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		require.NoError(t, err)
	})

	t.Run("claim binds", func(t *testing.T) {
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: resource.MustParse("5Gi"),
				}},
			},
		}
		_, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{})
		require.NoError(t, err)
		poll(ctx, t, "claim sim-smoke/data Bound", func() (bool, error) {
			got, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return got.Status.Phase == corev1.ClaimBound, nil
		})
		got, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, kubeapi.DefaultStorageClass, *got.Spec.StorageClassName, "the default class applies")
		assert.Equal(t, "5Gi", got.Status.Capacity.Storage().String())
	})

	t.Run("anti-affine replicas and their service", func(t *testing.T) {
		labels := map[string]string{"app": "web"}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptrTo(int32(3)),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
						Containers:     []corev1.Container{{Name: "web", Image: "nginx"}},
						Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
							RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
								LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
								TopologyKey:   "kubernetes.io/hostname",
							}},
						}},
					},
				},
			},
		}
		_, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
		require.NoError(t, err)
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
		}
		_, err = cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		require.NoError(t, err)

		poll(ctx, t, "deployment sim-smoke/web ready", func() (bool, error) {
			got, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return got.Status.ReadyReplicas == 3, nil
		})
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		require.NoError(t, err)
		nodes := map[string]bool{}
		for _, p := range pods.Items {
			assert.NotEmpty(t, p.Status.PodIP, "pod %s has an IP", p.Name)
			nodes[p.Spec.NodeName] = true
		}
		assert.Len(t, nodes, 3, "one replica per node")

		poll(ctx, t, "service sim-smoke/web has 3 ready endpoints", func() (bool, error) {
			slices, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
			if err != nil {
				return false, err
			}
			ready := 0
			for _, s := range slices.Items {
				for _, ep := range s.Endpoints {
					if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
						ready++
					}
				}
			}
			return ready == 3, nil
		})
	})

	t.Run("job completes", func(t *testing.T) {
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "once", Namespace: ns},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "once", Image: "busybox"}},
			}}},
		}
		_, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
		require.NoError(t, err)
		poll(ctx, t, "job sim-smoke/once complete", func() (bool, error) {
			got, err := cs.BatchV1().Jobs(ns).Get(ctx, "once", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range got.Status.Conditions {
				if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
	})
}

func poll(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	require.NoError(t, err, "waiting for %s (last error: %v)", what, last)
}

func ptrTo[T any](v T) *T { return &v }
