package kube

import (
	"strings"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateSchedule checks a CronJob schedule as the API server does when it
// creates one (k8s.io/kubernetes v1.34 pkg/apis/batch/validation,
// validateScheduleFormat): standard five-field cron syntax or a descriptor such
// as @daily, and no TZ= or CRON_TZ= prefix (any "TZ" in the schedule is refused).
func ValidateSchedule(schedule string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := cron.ParseStandard(schedule); err != nil {
		errs = append(errs, field.Invalid(p, schedule, "not a cron schedule (minute hour day-of-month month day-of-week, or @daily): "+err.Error()))
	}
	if strings.Contains(schedule, "TZ") {
		errs = append(errs, field.Invalid(p, schedule,
			"cannot use TZ or CRON_TZ in schedule (the API server refuses it): write the schedule in the controller manager's time zone, usually UTC"))
	}
	return errs
}
