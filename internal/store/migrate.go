package store

import (
	"context"
	"fmt"
	"io/fs"

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
	p, err := s.provider()
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, err
	}
	return !pending, nil
}
