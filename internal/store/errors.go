package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

var (
	// ErrNotFound is returned when a row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when a compare-and-set update found the row changed.
	ErrConflict = errors.New("store: conflict")
	// ErrBusy is a transient lock conflict (deadlock, serialization failure, SQLITE_BUSY).
	ErrBusy = errors.New("store: busy")
)

// ConstraintError is a violated unique, check or foreign key constraint.
type ConstraintError struct {
	Kind       string // unique | check | foreign_key | not_null
	Constraint string // constraint name (PostgreSQL) or the table.columns SQLite names
	Err        error
}

func (e *ConstraintError) Error() string {
	return fmt.Sprintf("store: %s constraint %s violated: %v", e.Kind, e.Constraint, e.Err)
}

func (e *ConstraintError) Unwrap() error { return e.Err }

// IsUnique reports whether err violates the unique constraint named by any of names (a
// PostgreSQL constraint name or a SQLite "table.col, table.col" list).
func IsUnique(err error, names ...string) bool {
	var ce *ConstraintError
	if !errors.As(err, &ce) || ce.Kind != "unique" {
		return false
	}
	if len(names) == 0 {
		return true
	}
	for _, n := range names {
		if ce.Constraint == n {
			return true
		}
	}
	return false
}

// IsCheck reports whether err violates a check constraint (named, when names are given).
func IsCheck(err error, names ...string) bool {
	var ce *ConstraintError
	if !errors.As(err, &ce) || ce.Kind != "check" {
		return false
	}
	if len(names) == 0 {
		return true
	}
	for _, n := range names {
		if strings.Contains(ce.Constraint, n) {
			return true
		}
	}
	return false
}

// translate maps driver errors to the store's errors by SQLSTATE or SQLite result code.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return &ConstraintError{Kind: "unique", Constraint: pe.ConstraintName, Err: err}
		case "23514":
			return &ConstraintError{Kind: "check", Constraint: pe.ConstraintName, Err: err}
		case "23503":
			return &ConstraintError{Kind: "foreign_key", Constraint: pe.ConstraintName, Err: err}
		case "23502":
			return &ConstraintError{Kind: "not_null", Constraint: pe.ColumnName, Err: err}
		case "40001", "40P01", "55P03":
			return fmt.Errorf("%w: %w", ErrBusy, err)
		}
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		msg := se.Error()
		switch se.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
			return &ConstraintError{Kind: "unique", Constraint: sqliteConstraint(msg, "UNIQUE constraint failed: "), Err: err}
		case 275: // SQLITE_CONSTRAINT_CHECK
			return &ConstraintError{Kind: "check", Constraint: sqliteConstraint(msg, "CHECK constraint failed: "), Err: err}
		case 787: // SQLITE_CONSTRAINT_FOREIGNKEY
			return &ConstraintError{Kind: "foreign_key", Constraint: "", Err: err}
		case 1299: // SQLITE_CONSTRAINT_NOTNULL
			return &ConstraintError{Kind: "not_null", Constraint: sqliteConstraint(msg, "NOT NULL constraint failed: "), Err: err}
		case 5, 517, 261, 6: // SQLITE_BUSY, BUSY_SNAPSHOT, BUSY_RECOVERY, LOCKED
			return fmt.Errorf("%w: %w", ErrBusy, err)
		}
	}
	return err
}

func sqliteConstraint(msg, prefix string) string {
	i := strings.Index(msg, prefix)
	if i < 0 {
		return ""
	}
	s := msg[i+len(prefix):]
	if j := strings.IndexAny(s, "()"); j >= 0 {
		s = s[:j]
	}
	return strings.TrimSpace(s)
}

func isRetryable(err error) bool { return errors.Is(err, ErrBusy) }
