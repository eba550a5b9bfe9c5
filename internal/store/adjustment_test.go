package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestAdjustmentMigrationKeepsLedger: migration 0016 widens ledger_journals' kinds on a
// database that already has journals and postings (SQLite rebuilds the table that postings
// refer to), keeps every row, accepts the new kinds, and rolls back only while none is used.
func TestAdjustmentMigrationKeepsLedger(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			s := storetest.OpenAt(t, d, 8)
			// The ledger as the schema before 0016 holds it: two journals with postings.
			now := store.Now(time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC))
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO ledger_accounts (name, currency, created_at) VALUES (?, ?, ?), (?, ?, ?)`,
					[]any{"channel:sb:receivable", "CNY", now, "merchant:m1:pending", "CNY", now}},
				{`INSERT INTO ledger_journals (id, kind, ref_id, created_at) VALUES (?, ?, ?, ?), (?, ?, ?, ?)`,
					[]any{"jnl_1", "capture", "pay_1", now, "jnl_2", "refund", "ref_1", now}},
				{`INSERT INTO ledger_postings (journal_id, account, currency, amount) VALUES (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)`,
					[]any{"jnl_1", "channel:sb:receivable", "CNY", 100, "jnl_1", "merchant:m1:pending", "CNY", -100,
						"jnl_2", "merchant:m1:pending", "CNY", 40, "jnl_2", "channel:sb:receivable", "CNY", -40}},
			} {
				if _, err := s.DB().ExecContext(ctx, s.Rebind(q.sql), q.args...); err != nil {
					t.Fatal(err)
				}
			}
			count := func(table string) int {
				t.Helper()
				var n int
				if err := s.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM `+table); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if _, err := s.MigrateUp(ctx); err != nil {
				t.Fatalf("migrate up over existing journals: %v", err)
			}
			if count("ledger_journals") != 2 || count("ledger_postings") != 4 {
				t.Fatalf("after 0016: %d journals, %d postings", count("ledger_journals"), count("ledger_postings"))
			}
			// Down and up again with data: still intact.
			// Down to before 0016 (later migrations, if any, are rolled back with it).
			if _, err := s.MigrateDownTo(ctx, 14); err != nil {
				t.Fatalf("migrate down without adjustments: %v", err)
			}
			if _, err := s.MigrateUp(ctx); err != nil {
				t.Fatal(err)
			}
			j, err := ledger.AmountAdjustment("adj_1", "sb", "m1", "CNY", 5)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Transact(ctx, func(tx *store.Tx) error { return tx.PostJournal(ctx, j, now) }); err != nil {
				t.Fatalf("an amount_adjustment journal after 0016: %v", err)
			}
			// Rolling back now would drop a journal kind in use: refused, nothing lost.
			if _, err := s.MigrateDownTo(ctx, 14); err == nil {
				t.Fatal("migrate down with an adjustment journal succeeded")
			}
			if count("ledger_journals") != 3 || count("ledger_postings") != 6 || count("recon_adjustments") != 0 {
				t.Errorf("after a refused down: %d journals, %d postings", count("ledger_journals"), count("ledger_postings"))
			}
			if d == store.SQLite {
				var bad []struct {
					Table  string `db:"table"`
					RowID  int64  `db:"rowid"`
					Parent string `db:"parent"`
					FKID   int64  `db:"fkid"`
				}
				if err := s.DB().SelectContext(ctx, &bad, `PRAGMA foreign_key_check`); err != nil || len(bad) != 0 {
					t.Errorf("foreign key check: %+v, %v", bad, err)
				}
			}
		})
	}
}
