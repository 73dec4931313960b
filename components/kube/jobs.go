package kube

import (
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// JobPod is the spec of a run-to-completion pod (Jobs, CronJobs): restarted in
// place on failure, no Kubernetes API token, the restricted security context
// for uid, the image pull Secrets, and the node placement of owner (the
// scheduling of the component the Job belongs to) over the stack's. The
// caller sets the containers and volumes.
func (e Env) JobPod(uid int, owner Scheduling) *corev1.PodSpecArgs {
	spec := &corev1.PodSpecArgs{
		RestartPolicy:                pulumi.String("OnFailure"),
		AutomountServiceAccountToken: pulumi.Bool(false),
		SecurityContext:              PodSecurityContext(uid),
	}
	e.Registry.setPullSecrets(spec)
	owner.Over(e.Scheduling).ForJobs().apply(spec, AntiAffinityNone, nil)
	return spec
}

// JobSpec runs pod (with id's labels) to completion within deadlineSeconds,
// retried backoffLimit times.
func JobSpec(id Identity, pod *corev1.PodSpecArgs, backoffLimit, deadlineSeconds int) *batchv1.JobSpecArgs {
	return &batchv1.JobSpecArgs{
		BackoffLimit:          pulumi.Int(backoffLimit),
		ActiveDeadlineSeconds: pulumi.Int(deadlineSeconds),
		Template:              &corev1.PodTemplateSpecArgs{Metadata: id.PodMeta(nil), Spec: pod},
	}
}

// NewCronJob runs job on schedule, one run at a time, keeping the last three
// finished Jobs of each outcome for inspection.
func NewCronJob(ctx *pulumi.Context, name string, id Identity, namespace pulumi.StringInput, schedule string,
	job *batchv1.JobSpecArgs, opts ...pulumi.ResourceOption,
) error {
	_, err := batchv1.NewCronJob(ctx, name, &batchv1.CronJobArgs{
		Metadata: id.ObjectMeta(name, namespace),
		Spec: &batchv1.CronJobSpecArgs{
			Schedule:                   pulumi.String(schedule),
			ConcurrencyPolicy:          pulumi.String("Forbid"),
			SuccessfulJobsHistoryLimit: pulumi.Int(3),
			FailedJobsHistoryLimit:     pulumi.Int(3),
			JobTemplate:                &batchv1.JobTemplateSpecArgs{Metadata: &metav1.ObjectMetaArgs{Labels: id.Labels()}, Spec: job},
		},
	}, opts...)
	return err
}
