package settle_test

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/settle"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestHoldReason is the rule: what keeps a merchant's batches from being paid out.
func TestHoldReason(t *testing.T) {
	for _, tt := range []struct {
		name    string
		status  string
		account bool
		want    string
	}{
		{"active with an account", "active", true, ""},
		{"no bank account", "active", false, "no_bank_account"},
		{"suspended", "suspended", true, "merchant_suspended"},
		{"suspended without an account", "suspended", false, "merchant_suspended,no_bank_account"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := settle.HoldReason(store.SettleMerchant{Status: tt.status, HasAccount: tt.account})
			if got != tt.want {
				t.Errorf("HoldReason = %q, want %q", got, tt.want)
			}
		})
	}
	if got := settle.ReasonText("merchant_suspended,no_bank_account"); got != "merchant suspended, no bank account" {
		t.Errorf("ReasonText = %q", got)
	}
}

// TestReleasedBatchInExactlyOnePayoutFile: a held batch, once released, is claimed by exactly
// one of several payout files regenerated at once, and is never listed while on hold.
func TestReleasedBatchInExactlyOnePayoutFile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		f.merchant("mch_a", paygw.FeePlan{RateBps: 60})
		bare := paygw.Merchant{ID: "mch_n", Name: "Shop mch_n", CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		if err := s.CreateMerchant(f.ctx, bare, "sk_n"); err != nil {
			t.Fatal(err)
		}
		d := "2026-11-22"
		f.pay("pay_a", "mch_a", "CNY", 10000, at(d, 9, 0), false)
		f.pay("pay_n", "mch_n", "CNY", 5000, at(d, 9, 0), false)
		f.reconcile("pay_a", "pay_n")
		out := t.TempDir()
		res := f.settle(d, func(o *settle.Options) { o.OutDir = out })
		if len(res.OnHold) != 1 || res.OnHold[0].MerchantID != "mch_n" || res.OnHold[0].Reason != settle.HoldNoBankAccount {
			t.Fatalf("on hold %+v", res.OnHold)
		}
		held := res.OnHold[0].ID
		if _, _, err := settle.MarkPaid(f.ctx, s, held, "B-0", time.Now()); err == nil || !strings.Contains(err.Error(), "on hold") {
			t.Errorf("mark-paid of a held batch: %v", err)
		}
		// Still held: regenerating lists it nowhere.
		opts := func(date string) settle.Options {
			return settle.Options{Date: date, OutDir: t.TempDir(), Log: zerolog.Nop(), Now: time.Now}
		}
		r, err := settle.Payout(f.ctx, s, opts(d))
		if err != nil || len(r.OnHold) != 1 || len(r.Released) != 0 {
			t.Fatalf("payout while held: %+v %v", r, err)
		}
		err = s.Transact(f.ctx, func(tx *store.Tx) error {
			m, err := tx.GetMerchant(f.ctx, "mch_n")
			if err != nil {
				return err
			}
			m.BankAccount = paygw.BankAccount{Name: "N Ltd", Bank: "Test Bank", AccountNo: "6222020000000000042"}
			if err := tx.UpdateMerchant(f.ctx, m, time.Now()); err != nil {
				return err
			}
			_, err = tx.ReleaseHolds(f.ctx, "mch_n", time.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		dates := []string{"2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26"}
		var wg sync.WaitGroup
		files := make([]string, len(dates))
		for i, date := range dates {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := settle.Payout(f.ctx, s, opts(date))
				if err != nil {
					t.Error(err)
					return
				}
				data, _ := os.ReadFile(r.PayoutFile)
				files[i] = string(data)
			}()
		}
		wg.Wait()
		n := 0
		for _, data := range files {
			n += strings.Count(data, held)
		}
		if n != 1 {
			t.Errorf("the released batch is in %d payout files, want 1:\n%s", n, strings.Join(files, "\n"))
		}
		if _, changed, err := settle.MarkPaid(f.ctx, s, held, "B-1", time.Now()); err != nil || !changed {
			t.Fatalf("mark-paid after release: %v %v", changed, err)
		}
		f.verify()
	})
}
