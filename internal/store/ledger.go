package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// PostJournal writes a balanced journal, its postings and the account balances in the
// transaction. A second journal for the same (kind, ref) fails with a unique-constraint error
// (IsUnique), which is how an event can never post twice.
func (t *Tx) PostJournal(ctx context.Context, j paygw.Journal, now time.Time) error {
	jp, err := planJournal(t.accounts, t.dialect, j)
	if err != nil {
		return err
	}
	if len(jp.newAccounts) > 0 {
		if _, err := exec(ctx, t.tx, t.dialect, `INSERT INTO ledger_accounts (name, currency, created_at) VALUES `+
			values(len(jp.newAccounts), 3)+` ON CONFLICT (name, currency) DO NOTHING`, jp.accountArgs(now)...); err != nil {
			return fmt.Errorf("open accounts: %w", err)
		}
		// Remember them only once this transaction has committed: a rolled-back insert leaves
		// no account behind.
		t.AfterCommit(jp.remember)
	}
	journal := `INSERT INTO ledger_journals (id, kind, ref_id, created_at) VALUES (?, ?, ?, ?)`
	jargs := []any{jp.id, j.Kind, j.RefID, Now(now)}
	balances := `INSERT INTO ledger_balances (account, currency, shard, balance) VALUES ` + values(len(jp.bal), 4) +
		` ON CONFLICT (account, currency, shard) DO UPDATE SET balance = ledger_balances.balance + excluded.balance`
	bargs := jp.balanceArgs()
	postings := `INSERT INTO ledger_postings (journal_id, account, currency, amount) VALUES ` + values(len(jp.postings), 4)
	pargs := jp.postingArgs()
	if t.dialect.writableCTE() {
		// One round trip: the foreign keys are checked at the end of the statement.
		args := append(append(jargs, bargs...), pargs...)
		if _, err := exec(ctx, t.tx, t.dialect, `WITH j AS (`+journal+`), b AS (`+balances+`) `+postings, args...); err != nil {
			return fmt.Errorf("post journal %s %s: %w", j.Kind, j.RefID, err)
		}
		return nil
	}
	if _, err := exec(ctx, t.tx, t.dialect, journal, jargs...); err != nil {
		return fmt.Errorf("insert journal %s %s: %w", j.Kind, j.RefID, err)
	}
	if _, err := exec(ctx, t.tx, t.dialect, balances, bargs...); err != nil {
		return fmt.Errorf("update balances %s %s: %w", j.Kind, j.RefID, err)
	}
	if _, err := exec(ctx, t.tx, t.dialect, postings, pargs...); err != nil {
		return fmt.Errorf("insert postings %s %s: %w", j.Kind, j.RefID, err)
	}
	return nil
}

// journalPlan is what posting a journal writes: its id, its postings in a fixed order, one
// balance change per account on one shard, and the accounts not known to exist yet.
type journalPlan struct {
	id          string
	postings    []paygw.Posting
	bal         []paygw.Posting
	shard       int
	newAccounts []paygw.Posting
	keys        []string
	accounts    *accountCache
}

func planJournal(accounts *accountCache, d Dialect, j paygw.Journal) (journalPlan, error) {
	if err := j.Check(); err != nil {
		return journalPlan{}, err
	}
	jp := journalPlan{id: paygw.NewID("jnl")}
	ps := append([]paygw.Posting(nil), j.Postings...)
	// A fixed order of balance updates: two journals touching the same accounts never deadlock.
	sort.Slice(ps, func(a, b int) bool {
		if ps[a].Account != ps[b].Account {
			return ps[a].Account < ps[b].Account
		}
		return ps[a].Currency < ps[b].Currency
	})
	jp.postings = ps
	// One balance change per account (a multi-row upsert may name each key once).
	for _, p := range ps {
		if n := len(jp.bal); n > 0 && jp.bal[n-1].Account == p.Account && jp.bal[n-1].Currency == p.Currency {
			jp.bal[n-1].Amount += p.Amount
			continue
		}
		jp.bal = append(jp.bal, p)
	}
	for _, p := range jp.bal {
		key := p.Account + "\x00" + string(p.Currency)
		if _, known := accounts.Load(key); !known {
			jp.newAccounts = append(jp.newAccounts, p)
			jp.keys = append(jp.keys, key)
		}
	}
	jp.accounts = accounts
	if d.shardsBalances() {
		jp.shard = int(fnv32(jp.id) % balanceShards)
	}
	return jp, nil
}

func (jp journalPlan) accountArgs(now time.Time) []any {
	var args []any
	for _, p := range jp.newAccounts {
		args = append(args, p.Account, string(p.Currency), Now(now))
	}
	return args
}

func (jp journalPlan) balanceArgs() []any {
	var args []any
	for _, p := range jp.bal {
		args = append(args, p.Account, string(p.Currency), jp.shard, p.Amount)
	}
	return args
}

func (jp journalPlan) postingArgs() []any {
	var args []any
	for _, p := range jp.postings {
		args = append(args, jp.id, p.Account, string(p.Currency), p.Amount)
	}
	return args
}

// remember records the plan's new accounts as known (once they are committed).
func (jp journalPlan) remember() {
	for _, k := range jp.keys {
		jp.accounts.Store(k, struct{}{})
	}
}

// values renders n rows of k placeholders: (?, ?), (?, ?).
func values(n, k int) string {
	row := "(" + strings.Repeat("?, ", k-1) + "?)"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// accountCache remembers the ledger accounts known to exist in one database (accounts are
// never deleted), so a journal skips re-opening them. Each Store has its own.
type accountCache = sync.Map

// balanceShards is how many balance rows a PostgreSQL account is spread over. SQLite has one
// writer at a time, so it uses a single shard. A payment's outcome holds its two shard rows
// (channel receivable, merchant pending) until its commit is flushed, so with 64 clients on one
// merchant 16 shards still queued outcomes behind each other (Lock:transactionid on the outcome
// statement); 64 make a collision four times rarer. Readers sum the shards, so the number may
// change at any time (existing rows keep counting).
const balanceShards = 64

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// Balance is an account's stored balance.
type Balance struct {
	Account  string `db:"name"`
	Currency string `db:"currency"`
	Balance  int64  `db:"balance"`
}

// Balances returns every ledger account's stored balance (the sum of its shards).
func (s *Store) Balances(ctx context.Context) ([]Balance, error) {
	var out []Balance
	if err := sel(ctx, s.db, s.dialect, &out, `SELECT a.name, a.currency, COALESCE(SUM(b.balance), 0) AS balance
		FROM ledger_accounts a LEFT JOIN ledger_balances b ON b.account = a.name AND b.currency = a.currency
		GROUP BY a.name, a.currency ORDER BY a.name, a.currency`); err != nil {
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
