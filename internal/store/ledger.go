package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/paygw"
)

// PostJournal writes a balanced journal, its postings and the account balances in the
// transaction. A second journal for the same (kind, ref) fails with a unique-constraint error
// (IsUnique), which is how an event can never post twice.
func (t *Tx) PostJournal(ctx context.Context, j ledger.Journal, now time.Time) error {
	if err := j.Check(); err != nil {
		return err
	}
	id := paygw.NewID("jnl")
	if _, err := exec(ctx, t.tx, t.dialect, `INSERT INTO ledger_journals (id, kind, ref_id, created_at) VALUES (?, ?, ?, ?)`,
		id, j.Kind, j.RefID, Now(now)); err != nil {
		return fmt.Errorf("insert journal %s %s: %w", j.Kind, j.RefID, err)
	}
	ps := append([]ledger.Posting(nil), j.Postings...)
	// A fixed order of balance updates: two journals touching the same accounts never deadlock.
	sort.Slice(ps, func(a, b int) bool {
		if ps[a].Account != ps[b].Account {
			return ps[a].Account < ps[b].Account
		}
		return ps[a].Currency < ps[b].Currency
	})
	for _, p := range ps {
		if _, err := exec(ctx, t.tx, t.dialect, `INSERT INTO ledger_accounts (name, currency, balance, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (name, currency) DO UPDATE SET balance = ledger_accounts.balance + excluded.balance`,
			p.Account, string(p.Currency), p.Amount, Now(now)); err != nil {
			return fmt.Errorf("update balance %s: %w", p.Account, err)
		}
	}
	var sb strings.Builder
	args := make([]any, 0, 4*len(ps))
	sb.WriteString(`INSERT INTO ledger_postings (journal_id, account, currency, amount) VALUES `)
	for i, p := range ps {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?, ?, ?)")
		args = append(args, id, p.Account, string(p.Currency), p.Amount)
	}
	if _, err := exec(ctx, t.tx, t.dialect, sb.String(), args...); err != nil {
		return fmt.Errorf("insert postings %s %s: %w", j.Kind, j.RefID, err)
	}
	return nil
}

// Balance is an account's stored balance.
type Balance struct {
	Account  string `db:"name"`
	Currency string `db:"currency"`
	Balance  int64  `db:"balance"`
}

// Balances returns every ledger account's stored balance.
func (s *Store) Balances(ctx context.Context) ([]Balance, error) {
	var out []Balance
	if err := sel(ctx, s.db, s.dialect, &out, `SELECT name, currency, balance FROM ledger_accounts ORDER BY name, currency`); err != nil {
		return nil, fmt.Errorf("balances: %w", err)
	}
	return out, nil
}

// JournalCount counts journals of a kind for a reference (tests and verify).
func (s *Store) JournalCount(ctx context.Context, kind, refID string) (int, error) {
	var n int
	if err := get(ctx, s.db, s.dialect, &n, `SELECT COUNT(*) FROM ledger_journals WHERE kind = ? AND ref_id = ?`, kind, refID); err != nil {
		return 0, err
	}
	return n, nil
}
