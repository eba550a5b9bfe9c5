package store

import (
	"context"
	"time"
)

// ExplainClaim returns the plan of ClaimNotifications' statement: on SQLite the EXPLAIN QUERY
// PLAN lines (read on the writer's connection, where claims run); on PostgreSQL the JSON of
// EXPLAIN (ANALYZE, FORMAT JSON), run in a transaction that is rolled back.
func (s *Store) ExplainClaim(ctx context.Context, o ClaimOptions, now time.Time) ([]string, error) {
	q, args := s.claimStatement(o, now)
	if s.dialect == SQLite {
		var plan []struct {
			ID      int    `db:"id"`
			Parent  int    `db:"parent"`
			NotUsed int    `db:"notused"`
			Detail  string `db:"detail"`
		}
		err := s.Transact(ctx, func(tx *Tx) error {
			return sel(ctx, tx.tx, s.dialect, &plan, "EXPLAIN QUERY PLAN "+q, args...)
		})
		var out []string
		for _, p := range plan {
			out = append(out, p.Detail)
		}
		return out, err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	var js string
	if err := tx.GetContext(ctx, &js, "EXPLAIN (ANALYZE, FORMAT JSON) "+rebind(s.dialect, q), args...); err != nil {
		return nil, err
	}
	return []string{js}, nil
}
