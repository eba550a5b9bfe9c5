package store

import (
	"context"
	"fmt"
	"io/fs"
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
