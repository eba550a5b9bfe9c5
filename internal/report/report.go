// Package report writes the Excel workbooks that operators and finance read: the reconciliation
// report, the settlement report and the daily transaction report.
//
// The package is a pure format layer: it never touches storage. Callers convert their data into
// the plain input types defined here. Large detail sheets are fed through a [Source], a push
// iterator, so a million-row detail is never held in memory; they are written with excelize's
// StreamWriter, which spills to a temporary file beyond 16 MB.
//
// Conventions shared by every workbook:
//   - Money is a numeric cell in major units with a money number format for its currency's
//     exponent (see [moneyValue] for why the value is exact).
//   - Counts are integer cells, rates are fractions with a percent format, dates are real date
//     cells formatted yyyy-mm-dd.
//   - Every table has a bold header row that is frozen and carries an autofilter.
//   - A sheet holds at most 1,048,576 rows including its header; a longer detail continues on
//     further sheets named "Matched", "Matched (2)", "Matched (3)", ...
//   - The file is written to a temporary name beside path and renamed into place, so a failed
//     run never leaves a half-written workbook under the final name.
package report

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/paygw/paygw/internal/money"
)

// Source is a push iterator over the rows of a detail sheet. It calls yield once per item, in
// the order the rows should appear, and must stop and return yield's error as soon as yield
// returns one (the report could not be written); otherwise it returns its own error, if any
// (for example a failed database scan), or nil when all items were yielded.
//
// A store query adapts naturally:
//
//	src := func(yield func(report.SettlementItem) error) error {
//		return store.EachItem(ctx, date, func(r store.ItemRow) error { return yield(toReport(r)) })
//	}
//
// A Source is iterated exactly once.
type Source[T any] func(yield func(T) error) error

// SliceSource returns a Source that yields the items of a slice; handy for small reports and
// tests.
func SliceSource[T any](items []T) Source[T] {
	return func(yield func(T) error) error {
		for _, it := range items {
			if err := yield(it); err != nil {
				return err
			}
		}
		return nil
	}
}

// ErrAmountTooLarge is returned for an amount a spreadsheet cannot hold exactly (16 or more
// significant digits in minor units).
var ErrAmountTooLarge = errors.New("amount too large for an exact spreadsheet number")

// ErrTotalsMismatch is returned when totals handed to a report disagree with its detail rows;
// a report that does not foot is never written.
var ErrTotalsMismatch = errors.New("totals disagree with detail rows")

// maxExactMinor is the largest magnitude, in minor units, written as a money cell. Numbers of
// at most 15 significant digits survive the round trip decimal -> float64 -> shortest decimal
// unchanged (DBL_DIG is 15), and 15 digits is also what Excel keeps, so every amount up to
// this bound appears in the file and on screen exactly as money.Format prints it.
const maxExactMinor = 999_999_999_999_999

var pow10 = [...]float64{1, 10, 100, 1000, 10000}

// moneyValue converts minor units to the major-unit float64 excelize writes as the cell's
// number. float64(minor) is exact (|minor| < 2^53) and IEEE division by the exact power of
// ten is correctly rounded, so the result is the double nearest to the true decimal; since
// that decimal has at most 15 significant digits, excelize's shortest formatting
// (strconv 'f', -1) writes exactly the decimal digits into the XML. The float never takes
// part in arithmetic: totals are summed in int64 before conversion.
func moneyValue(minor int64, cur money.Currency) (float64, error) {
	exp, err := cur.Exponent()
	if err != nil {
		return 0, err
	}
	if minor > maxExactMinor || minor < -maxExactMinor {
		return 0, fmt.Errorf("%w: %s %s", ErrAmountTooLarge, money.Format(minor, cur), cur)
	}
	if int(exp) >= len(pow10) {
		return 0, fmt.Errorf("currency %s: exponent %d not supported", cur, exp)
	}
	return float64(minor) / pow10[exp], nil
}

// ratio returns num ÷ den as a fraction for a percent cell, or nil (an empty cell) when den is
// zero. A rate is presentation, so float64 is fine here.
func ratio(num, den int64) any {
	if den == 0 {
		return nil
	}
	return float64(num) / float64(den)
}

// excelDate returns the calendar date of t (in t's own location) as a midnight UTC time, so
// excelize writes that day's serial number whatever zone the caller used.
func excelDate(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// sum64 adds b to *a and reports int64 overflow.
func sum64(a *int64, b int64) error {
	s, err := money.Add(*a, b)
	if err != nil {
		return err
	}
	*a = s
	return nil
}

// save writes f to path through a temporary file in the same directory and a rename, and
// always releases f's temporary stream files.
func save(f *excelize.File, path string) (err error) {
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close workbook: %w", cerr)
		}
	}()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmpName)
		}
	}()
	if _, err := f.WriteTo(tmp); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; a report is read by people other than the job's user.
	if err := os.Chmod(tmpName, 0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", tmpName, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return nil
}
