package store

import (
	"context"
	"fmt"
)

// MigrateUpTo applies the pending migrations up to and including version: tests of a migration
// against data written by the schema before it use it.
func (s *Store) MigrateUpTo(ctx context.Context, version int64) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("migrate up to %d: %w", version, err)
	}
	return nil
}
