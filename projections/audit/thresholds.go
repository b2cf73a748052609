package audit

import (
	"errors"
	"fmt"
	"time"
)

// Validate checks that t can flag anything sensible: a misconfigured
// threshold would silently flag nobody, or everybody.
func (t Thresholds) Validate() error {
	var errs []error
	if t.PeerFactor < 1 {
		errs = append(errs, errors.New("peer-factor must be at least 1"))
	}
	if t.MinViewsPerHour < 1 {
		errs = append(errs, errors.New("min-views-per-hour must be at least 1"))
	}
	if t.WithheldAttempts < 1 {
		errs = append(errs, errors.New("withheld-attempts must be at least 1"))
	}
	if t.OffHoursSearches < 1 {
		errs = append(errs, errors.New("off-hours-searches must be at least 1"))
	}
	if t.UnsearchedViews < 1 {
		errs = append(errs, errors.New("unsearched-views must be at least 1"))
	}
	if t.SearchLookbackMinutes < 1 {
		errs = append(errs, errors.New("search-lookback-minutes must be at least 1"))
	}
	if t.WorkStart < 0 || t.WorkEnd > 24 || t.WorkStart >= t.WorkEnd {
		errs = append(errs, errors.New("work-start and work-end must be hours with 0 <= work-start < work-end <= 24"))
	}
	if _, err := time.LoadLocation(t.TimeZone); err != nil || t.TimeZone == "" {
		errs = append(errs, fmt.Errorf("time-zone %q is not a known IANA time zone", t.TimeZone))
	}
	return errors.Join(errs...)
}
