package store

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/paygw/paygw/schema"
)

// MigrationStatus is one migration's state.
type MigrationStatus struct {
	Version int64
	Name    string
	Applied bool
}

func (s *Store) provider() (*goose.Provider, error) {
	dir := "sqlite"
	dialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithSessionLocker(&fileLocker{path: s.dsn.Path + ".migrate-lock"})}
	if s.dialect == Postgres {
		dir, dialect = "postgres", goose.DialectPostgres
		// A session advisory lock: two pods running `migrate up` at once apply each version once.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = []goose.ProviderOption{goose.WithSessionLocker(locker)}
	}
	sub, err := fs.Sub(schema.FS, dir)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(dialect, s.db.DB, sub, opts...)
}

// MigrateUp applies every pending migration; it is a no-op when the schema is current.
func (s *Store) MigrateUp(ctx context.Context) ([]int64, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate up: %w", err)
	}
	var vs []int64
	for _, r := range res {
		vs = append(vs, r.Source.Version)
	}
	return vs, nil
}

// MigrateDown rolls back the n most recent migrations.
func (s *Store) MigrateDown(ctx context.Context, n int) ([]int64, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	var vs []int64
	for i := 0; i < n; i++ {
		r, err := p.Down(ctx)
		if err != nil {
			return vs, fmt.Errorf("migrate down: %w", err)
		}
		if r == nil {
			break
		}
		vs = append(vs, r.Source.Version)
	}
	return vs, nil
}

// MigrationStatus lists every embedded migration and whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]MigrationStatus, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, m := range st {
		out = append(out, MigrationStatus{Version: m.Source.Version, Name: m.Source.Path, Applied: m.State == goose.StateApplied})
	}
	return out, nil
}

// SchemaCurrent reports whether every embedded migration is applied (for /readyz).
func (s *Store) SchemaCurrent(ctx context.Context) (bool, error) {
	pending, err := s.PendingMigrations(ctx)
	if err != nil {
		return false, err
	}
	return len(pending) == 0, nil
}

// PendingMigrations lists the embedded migrations not applied to the database, oldest first.
// It only reads: unlike goose's own checks it never creates the version table, so checking an
// empty or mistyped database leaves it as it was.
func (s *Store) PendingMigrations(ctx context.Context) ([]int64, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	var exists int
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'`
	if s.dialect == Postgres {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'goose_db_version'`
	}
	if err := s.db.GetContext(ctx, &exists, q); err != nil {
		return nil, fmt.Errorf("schema check: %w", translate(err))
	}
	applied := map[int64]bool{}
	if exists > 0 {
		// goose's provider deletes a version's row when it rolls it back; older goose versions
		// inserted is_applied = false rows: the latest row of a version decides.
		var rows []struct {
			Version int64 `db:"version_id"`
			Applied bool  `db:"is_applied"`
		}
		if err := s.db.SelectContext(ctx, &rows, `SELECT version_id, is_applied FROM goose_db_version ORDER BY id`); err != nil {
			return nil, fmt.Errorf("schema check: %w", translate(err))
		}
		for _, r := range rows {
			applied[r.Version] = r.Applied
		}
	}
	var pending []int64
	for _, src := range p.ListSources() {
		if !applied[src.Version] {
			pending = append(pending, src.Version)
		}
	}
	return pending, nil
}

// CheckSchema returns a *NotMigratedError when a migration is pending.
func (s *Store) CheckSchema(ctx context.Context) error {
	pending, err := s.PendingMigrations(ctx)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	detail := "no migration is applied"
	if all := len(s.mustSources()); len(pending) < all {
		vs := make([]string, len(pending))
		for i, v := range pending {
			vs[i] = fmt.Sprintf("%04d", v)
		}
		detail = "migrations " + strings.Join(vs, ", ") + " are pending"
	}
	return &NotMigratedError{DSN: s.dsn, Detail: detail, Pending: pending}
}

func (s *Store) mustSources() []*goose.Source {
	p, err := s.provider()
	if err != nil {
		return nil
	}
	return p.ListSources()
}

// DownStep is one migration a roll-back would undo, and what undoing it destroys.
type DownStep struct {
	Version int64
	Name    string
	// Drops are the tables its down SQL drops, each with its row count ("settle_pending (12 rows)"),
	// and the columns it drops ("notifications.schedule_base").
	Drops []string
	// Rebuilt are tables its down SQL rebuilds under the same name (rows copied, not lost).
	Rebuilt []string
}

// DownRefusedError is a roll-back that cannot be done as asked; nothing was changed.
type DownRefusedError struct{ Msg string }

func (e *DownRefusedError) Error() string { return "migrate down: " + e.Msg }

var (
	dropTableRe  = regexp.MustCompile(`(?i)\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?([a-z_][a-z0-9_]*)`)
	dropColumnRe = regexp.MustCompile(`(?i)\bALTER\s+TABLE\s+([a-z_][a-z0-9_]*)\s+DROP\s+COLUMN\s+(?:IF\s+EXISTS\s+)?([a-z_][a-z0-9_]*)`)
	renameToRe   = regexp.MustCompile(`(?i)\bRENAME\s+TO\s+([a-z_][a-z0-9_]*)`)
)

// AppliedMigrations lists the applied embedded migrations, newest first.
func (s *Store) AppliedMigrations(ctx context.Context) ([]int64, error) {
	pending, err := s.PendingMigrations(ctx)
	if err != nil {
		return nil, err
	}
	isPending := map[int64]bool{}
	for _, v := range pending {
		isPending[v] = true
	}
	var applied []int64
	srcs := s.mustSources()
	for i := len(srcs) - 1; i >= 0; i-- {
		if !isPending[srcs[i].Version] {
			applied = append(applied, srcs[i].Version)
		}
	}
	return applied, nil
}

// PlanDown says what rolling back would undo, newest first, without changing anything: the n
// most recent applied migrations, or (toSet) every applied migration above version to. A count
// larger than what is applied, or a target that is not 0 or an embedded version, is refused.
func (s *Store) PlanDown(ctx context.Context, n int, to int64, toSet bool) ([]DownStep, error) {
	applied, err := s.AppliedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	srcs := s.mustSources()
	names := map[int64]string{}
	for _, src := range srcs {
		names[src.Version] = path.Base(src.Path)
	}
	var undo []int64
	switch {
	case toSet:
		if _, ok := names[to]; !ok && to != 0 {
			return nil, &DownRefusedError{Msg: fmt.Sprintf("--to %d is not a migration of this binary (0 or one of `paygw migrate status`)", to)}
		}
		for _, v := range applied {
			if v > to {
				undo = append(undo, v)
			}
		}
	case n > len(applied):
		return nil, &DownRefusedError{Msg: fmt.Sprintf("%d migrations asked, but only %d are applied to %s; nothing was rolled back", n, len(applied), s.dsn)}
	default:
		undo = applied[:n]
	}
	dir := "sqlite"
	if s.dialect == Postgres {
		dir = "postgres"
	}
	steps := make([]DownStep, 0, len(undo))
	for _, v := range undo {
		st := DownStep{Version: v, Name: names[v]}
		b, err := fs.ReadFile(schema.FS, dir+"/"+names[v])
		if err != nil {
			return nil, fmt.Errorf("migrate down: %w", err)
		}
		_, down, _ := strings.Cut(string(b), "-- +goose Down")
		renamed := map[string]bool{}
		for _, m := range renameToRe.FindAllStringSubmatch(down, -1) {
			renamed[strings.ToLower(m[1])] = true
		}
		for _, m := range dropTableRe.FindAllStringSubmatch(down, -1) {
			table := strings.ToLower(m[1])
			if renamed[table] {
				st.Rebuilt = append(st.Rebuilt, table)
				continue
			}
			var rows int64
			// table comes from our own embedded SQL and matches [a-z_][a-z0-9_]*.
			if err := s.db.GetContext(ctx, &rows, `SELECT COUNT(*) FROM `+table); err != nil {
				st.Drops = append(st.Drops, table)
				continue
			}
			st.Drops = append(st.Drops, fmt.Sprintf("%s (%d rows)", table, rows))
		}
		for _, m := range dropColumnRe.FindAllStringSubmatch(down, -1) {
			st.Drops = append(st.Drops, strings.ToLower(m[1])+"."+strings.ToLower(m[2]))
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// MigrateDownTo rolls back every applied migration above version.
func (s *Store) MigrateDownTo(ctx context.Context, version int64) ([]int64, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	res, err := p.DownTo(ctx, version)
	var vs []int64
	for _, r := range res {
		vs = append(vs, r.Source.Version)
	}
	if err != nil {
		return vs, fmt.Errorf("migrate down: %w", err)
	}
	return vs, nil
}
