package kubeapi

import (
	"context"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// provisionedByAnnotation marks the volumes a provisioner made, as upstream's
// external provisioners do.
const provisionedByAnnotation = "pv.kubernetes.io/provisioned-by"

// runProvisioner plays the external provisioner of the storage classes naming
// Provisioner until ctx ends: for every Pending claim of such a class it creates a
// hostPath PersistentVolume of the requested size, pre-bound to the claim
// (claimRef), which the controller manager's volume binder then binds; and it
// deletes the Released volumes it made whose reclaim policy is Delete. No
// directory is created: no container ever runs.
func runProvisioner(ctx context.Context, cs kubernetes.Interface, volumeDir string) {
	factory := informers.NewSharedInformerFactory(cs, 0)
	claims := factory.Core().V1().PersistentVolumeClaims()
	volumes := factory.Core().V1().PersistentVolumes()
	classes := factory.Storage().V1().StorageClasses()

	kick := make(chan struct{}, 1)
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { nudge(kick) },
		UpdateFunc: func(any, any) { nudge(kick) },
		DeleteFunc: func(any) { nudge(kick) },
	}
	for _, inf := range []cache.SharedIndexInformer{claims.Informer(), volumes.Informer(), classes.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			klog.ErrorS(err, "simulated provisioner: adding an event handler")
			return
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	factory.WaitForCacheSync(ctx.Done())

	// Failed calls are retried on the next event or tick.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-tick.C:
		}
		pvcs, _ := claims.Lister().List(labels.Everything())
		for _, pvc := range pvcs {
			if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" ||
				pvc.DeletionTimestamp != nil || pvc.Spec.StorageClassName == nil {
				continue
			}
			sc, err := classes.Lister().Get(*pvc.Spec.StorageClassName)
			if err != nil || sc.Provisioner != Provisioner {
				continue // not ours: stays Pending, as it would without a provisioner
			}
			name := "pvc-" + string(pvc.UID)
			if _, err := volumes.Lister().Get(name); err == nil {
				continue
			}
			reclaim := corev1.PersistentVolumeReclaimDelete
			if sc.ReclaimPolicy != nil {
				reclaim = *sc.ReclaimPolicy
			}
			hostPathType := corev1.HostPathDirectoryOrCreate
			pv := &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{
					Name:        name,
					Annotations: map[string]string{provisionedByAnnotation: Provisioner},
				},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
					AccessModes:                   pvc.Spec.AccessModes,
					PersistentVolumeReclaimPolicy: reclaim,
					StorageClassName:              sc.Name,
					VolumeMode:                    pvc.Spec.VolumeMode,
					ClaimRef: &corev1.ObjectReference{
						Kind:       "PersistentVolumeClaim",
						APIVersion: "v1",
						Namespace:  pvc.Namespace,
						Name:       pvc.Name,
						UID:        pvc.UID,
					},
					PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
						Path: filepath.Join(volumeDir, pvc.Namespace, pvc.Name),
						Type: &hostPathType,
					}},
				},
			}
			if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{FieldManager: FieldManager}); err != nil &&
				!apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
				klog.ErrorS(err, "simulated provisioner: creating a volume", "claim", klog.KObj(pvc))
			}
		}
		pvs, _ := volumes.Lister().List(labels.Everything())
		for _, pv := range pvs {
			if pv.Annotations[provisionedByAnnotation] != Provisioner || pv.DeletionTimestamp != nil ||
				pv.Status.Phase != corev1.VolumeReleased || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
				continue
			}
			if err := cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil &&
				!apierrors.IsNotFound(err) && ctx.Err() == nil {
				klog.ErrorS(err, "simulated provisioner: deleting a released volume", "volume", pv.Name)
			}
		}
	}
}

func nudge(kick chan<- struct{}) {
	select {
	case kick <- struct{}{}:
	default:
	}
}
