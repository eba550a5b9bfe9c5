package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/outcome"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// settleFixture makes one merchant with a succeeded payment (capture journal) and a batch.
func settleFixture(t *testing.T, s *store.Store) (paygw.Merchant, paygw.SettleBatch) {
	t.Helper()
	ctx := context.Background()
	m, _ := storetest.Merchant(t, s, "Shop", 60)
	now := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	p := paygw.Payment{ID: "pay_1", MerchantID: m.ID, OutTradeNo: "o1", Amount: 10000, Currency: "CNY",
		PayMethod: paygw.PayMethodWalletQR, RequestHash: "h", Status: paygw.PaymentProcessing, Channel: "sandbox", CreatedAt: now}
	if err := s.Transact(ctx, func(tx *store.Tx) error { return tx.InsertPayment(ctx, p) }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := outcome.ApplyPayment(ctx, s, p.ID, outcome.Payment{Status: paygw.PaymentSucceeded, PaidAt: now}, now, time.UTC); err != nil {
		t.Fatal(err)
	}
	b := paygw.SettleBatch{ID: "stb_1", MerchantID: m.ID, Currency: "CNY", Date: "2026-11-22", Payments: 1, Gross: 10000,
		Fee: 60, Net: 9940, Status: "settled", CreatedAt: now, UpdatedAt: now}
	items := []paygw.SettleItem{{ObjectID: p.ID, Kind: "payment", PaymentID: p.ID, OutNo: "o1", BusinessDate: "2026-11-22", Amount: 10000, Fee: 60}}
	err := s.Transact(ctx, func(tx *store.Tx) error {
		if err := tx.InsertSettleBatch(ctx, b, items); err != nil {
			return err
		}
		j, err := ledger.Settlement(b.ID, m.ID, "CNY", b.Gross, 0, b.Fee)
		if err != nil {
			return err
		}
		return tx.PostJournal(ctx, j, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

func TestSettleBatchUniqueKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, b := settleFixture(t, s)
		insert := func(b paygw.SettleBatch, items ...paygw.SettleItem) error {
			return s.Transact(ctx, func(tx *store.Tx) error { return tx.InsertSettleBatch(ctx, b, items) })
		}
		// Same merchant, currency and date.
		b2 := b
		b2.ID, b2.PrevBatchID = "stb_2", "stb_1"
		if err := insert(b2); !errors.Is(err, store.ErrBatchRace) {
			t.Errorf("second batch on the date: %v", err)
		}
		// The same item in another batch.
		b3 := b
		b3.ID, b3.Date, b3.PrevBatchID = "stb_3", "2026-11-23", "stb_1"
		if err := insert(b3, paygw.SettleItem{ObjectID: "pay_1", Kind: "payment", PaymentID: "pay_1", BusinessDate: "2026-11-22", Amount: 10000, Fee: 60}); !errors.Is(err, store.ErrBatchRace) {
			t.Errorf("item settled twice: %v", err)
		}
		// Two batches chained to the same previous one (a forked carry).
		b4 := b3
		if err := insert(b4); err != nil {
			t.Fatal(err)
		}
		b5 := b3
		b5.ID, b5.Date = "stb_5", "2026-11-24"
		if err := insert(b5); !errors.Is(err, store.ErrBatchRace) {
			t.Errorf("forked chain: %v", err)
		}
		// The net must follow from the amounts.
		b6 := b
		b6.ID, b6.Date, b6.PrevBatchID, b6.Net = "stb_6", "2026-11-25", "stb_3", 1
		if err := insert(b6); !store.IsCheck(err) {
			t.Errorf("bad net: %v", err)
		}
		on, latest, err := s.MerchantBatchState(ctx, m.ID, "2026-11-22")
		if err != nil || len(on) != 1 || latest["CNY"].ID != "stb_3" {
			t.Errorf("state: %+v %+v %v", on, latest, err)
		}
	})
}

func TestLedgerCheck(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		settleFixture(t, s)
		ps, err := s.LedgerCheck(ctx, 0)
		if err != nil || len(ps) != 0 {
			t.Fatalf("clean ledger: %+v %v", ps, err)
		}
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := s.DB().ExecContext(ctx, s.Rebind(q), args...); err != nil {
				t.Fatal(err)
			}
		}
		// Tamper: a balance, a posting (unbalancing its journal), a batch total, a payment
		// without its journal, a paid batch without payout.
		exec(`UPDATE ledger_balances SET balance = balance + 1 WHERE account = ?`, ledger.PlatformFeeRevenue)
		exec(`UPDATE ledger_postings SET amount = amount + 5 WHERE account = ?`, ledger.ChannelReceivable("sandbox"))
		exec(`UPDATE settle_batches SET gross = gross + 1, net = net + 1`)
		exec(`UPDATE settle_batches SET status = 'paid', bank_ref = 'X', paid_at = created_at`)
		exec(`INSERT INTO payments (id, merchant_id, out_trade_no, amount, currency, pay_method, request_hash, status, created_at, updated_at, paid_at, business_date)
			SELECT 'pay_2', merchant_id, 'o2', 5, currency, pay_method, 'h', 'succeeded', created_at, updated_at, paid_at, business_date FROM payments WHERE id = 'pay_1'`)
		ps, err = s.LedgerCheck(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, p := range ps {
			got[p.Check] = true
			t.Logf("%s %s: %s", p.Check, p.Ref, p.Detail)
		}
		for _, c := range []string{store.CheckAccountBalance, store.CheckJournalBalanced, store.CheckBatchTotals,
			store.CheckPayoutJournal, store.CheckPaymentJournal, store.CheckPending} {
			if !got[c] {
				t.Errorf("check %s found nothing", c)
			}
		}
	})
}

// TestLedgerCheckReferences: PostgreSQL has no foreign key from a posting to its journal
// (migration 0022), so verify checks it; SQLite keeps the key and refuses such a posting.
func TestLedgerCheckReferences(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		settleFixture(t, s)
		_, err := s.DB().ExecContext(ctx, s.Rebind(`INSERT INTO ledger_postings (journal_id, account, currency, amount)
			SELECT 'jnl_missing', account, currency, 1 FROM ledger_postings LIMIT 1`))
		if s.Dialect() != store.Postgres {
			if err == nil {
				t.Fatal("SQLite took a posting of a journal that does not exist")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		ps, err := s.LedgerCheck(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range ps {
			t.Logf("%s %s: %s", p.Check, p.Ref, p.Detail)
			found = found || (p.Check == store.CheckReferences && p.Ref == "jnl_missing")
		}
		if !found {
			t.Error("verify did not name the posting of a missing journal")
		}
	})
}

func TestDailyActivities(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := settleFixture(t, s)
		start, end, _ := paygw.DayBounds("2026-11-22", time.UTC)
		rows, err := s.DailyActivities(ctx, "2026-11-22", start, end)
		if err != nil {
			t.Fatal(err)
		}
		want := store.DailyActivity{MerchantID: m.ID, MerchantName: "Shop", Channel: "sandbox", PayMethod: "wallet_qr",
			Currency: "CNY", Created: 1, Succeeded: 1, SucceededAmount: 10000}
		if len(rows) != 1 || rows[0] != want {
			t.Errorf("rows %+v, want %+v", rows, want)
		}
	})
}
