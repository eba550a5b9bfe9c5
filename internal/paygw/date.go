package paygw

import (
	"fmt"
	"time"
)

// DateLayout is the layout of a business date.
const DateLayout = "2006-01-02"

// BusinessDate is the date of instant t in the settlement timezone, cut at 00:00.
func BusinessDate(t time.Time, loc *time.Location) string { return t.In(loc).Format(DateLayout) }

// ParseDate validates a YYYY-MM-DD business date.
func ParseDate(s string) (time.Time, error) {
	d, err := time.Parse(DateLayout, s)
	if err != nil || d.Format(DateLayout) != s {
		return time.Time{}, fmt.Errorf("invalid date %q: want YYYY-MM-DD", s)
	}
	return d, nil
}

// DayBounds returns the UTC instants [start, end) of business date d in loc.
func DayBounds(d string, loc *time.Location) (time.Time, time.Time, error) {
	t, err := ParseDate(d)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	end := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
	return start.UTC(), end.UTC(), nil
}

// Yesterday is the business date before the one containing now.
func Yesterday(now time.Time, loc *time.Location) string {
	n := now.In(loc)
	return time.Date(n.Year(), n.Month(), n.Day()-1, 12, 0, 0, 0, loc).Format(DateLayout)
}

// DayEnded reports whether business date d has ended at now in loc.
func DayEnded(d string, now time.Time, loc *time.Location) (bool, error) {
	_, end, err := DayBounds(d, loc)
	if err != nil {
		return false, err
	}
	return !now.Before(end), nil
}

// AddDays shifts a business date by n days.
func AddDays(d string, n int) (string, error) {
	t, err := ParseDate(d)
	if err != nil {
		return "", err
	}
	return t.AddDate(0, 0, n).Format(DateLayout), nil
}
