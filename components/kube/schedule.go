package kube

import (
	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateSchedule checks a CronJob schedule as the API server does (standard
// five-field cron syntax, or a descriptor such as @daily).
func ValidateSchedule(schedule string, p *field.Path) field.ErrorList {
	if _, err := cron.ParseStandard(schedule); err != nil {
		return field.ErrorList{field.Invalid(p, schedule, "not a cron schedule (minute hour day-of-month month day-of-week, or @daily): "+err.Error())}
	}
	return nil
}
