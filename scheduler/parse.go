package scheduler

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts the standard five fields (minute first), an optional
// leading seconds field, descriptors (@hourly, @every 10s) and a
// CRON_TZ=Zone prefix.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a robfig/cron spec. Without a CRON_TZ= prefix the
// schedule runs in UTC. Unlike cron.ParseStandard it never panics: robfig/cron
// v3.0.1 panics on malformed TZ prefixes such as "TZ=0" (issues #554, #470).
func ParseSchedule(spec string) (sched cron.Schedule, err error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty schedule: want a cron spec such as \"7 * * * *\" or \"@every 1h\"")
	}
	if strings.HasPrefix(spec, "TZ=") {
		return nil, fmt.Errorf("schedule %q: use CRON_TZ=Zone, not TZ=Zone", spec)
	}
	if strings.HasPrefix(spec, "CRON_TZ=") {
		zone, rest, ok := strings.Cut(strings.TrimPrefix(spec, "CRON_TZ="), " ")
		if !ok || strings.TrimSpace(rest) == "" {
			return nil, fmt.Errorf("schedule %q: CRON_TZ=Zone must be followed by a space and a cron spec", spec)
		}
		if _, err := time.LoadLocation(zone); err != nil {
			return nil, fmt.Errorf("schedule %q: unknown time zone %q: %w", spec, zone, err)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("schedule %q: invalid cron spec (%v)", spec, r)
		}
	}()
	sched, err = parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	switch s := sched.(type) {
	case cron.ConstantDelaySchedule:
		// cron rounds shorter intervals up to 1s without a word.
		if rest, ok := strings.CutPrefix(spec, "@every "); ok {
			if d, err := time.ParseDuration(strings.TrimSpace(rest)); err == nil && d < time.Second {
				return nil, fmt.Errorf("schedule %q: @every must be at least 1s", spec)
			}
		}
		return every{interval: s.Delay}, nil
	case *cron.SpecSchedule:
		if s.Location == time.Local {
			s.Location = time.UTC // the spec had no CRON_TZ=
		}
	}
	return sched, nil
}

// every is an "@every D" schedule that fires at the whole multiples of D
// since the Unix epoch (1970-01-01 00:00 UTC): @every 1h on the hour,
// @every 15m at :00, :15, :30 and :45. robfig/cron's own @every counts from
// whenever the scheduler started, so every restart would move the slots;
// aligned, a restart keeps them, the slot of a run is the same for every
// instance, and the latest slot can be computed (see Prev).
type every struct{ interval time.Duration }

// Next returns the first multiple of the interval after t.
func (e every) Next(t time.Time) time.Time {
	return e.prev(t).Add(e.interval).In(t.Location())
}

// prev returns the last multiple of the interval at or before t.
func (e every) prev(t time.Time) time.Time {
	iv := int64(e.interval / time.Second)
	sec := t.Unix()
	n := sec / iv
	if sec%iv < 0 {
		n--
	}
	return time.Unix(n*iv, 0).UTC()
}
