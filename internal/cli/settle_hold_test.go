package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/settle"
	"github.com/paygw/paygw/internal/store"
)

// bareMerchant creates a merchant with no bank account, as `merchant create` without
// --bank-account does.
func (db *cliDB) bareMerchant(id string) {
	db.t.Helper()
	m := paygw.Merchant{ID: id, Name: "Shop " + id, FeePlan: paygw.FeePlan{RateBps: 50},
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := db.s.CreateMerchant(db.ctx, m, "sk_"+id); err != nil {
		db.t.Fatal(err)
	}
}

func (db *cliDB) readOut(name string) string {
	db.t.Helper()
	data, err := os.ReadFile(filepath.Join(db.out, name))
	if err != nil {
		db.t.Fatal(err)
	}
	return string(data)
}

// holdJSON is the part of `settle --json` this test reads.
type holdJSON struct {
	Date    string `json:"date"`
	Batches []struct {
		MerchantID   string `json:"merchant_id"`
		MerchantName string `json:"merchant_name"`
		Status       string `json:"status"`
		HoldReason   string `json:"hold_reason"`
		Net          int64  `json:"net"`
	} `json:"batches"`
	OnHold []struct {
		BatchID    string `json:"batch_id"`
		MerchantID string `json:"merchant_id"`
		Date       string `json:"date"`
		Net        int64  `json:"net"`
		Reason     string `json:"reason"`
	} `json:"on_hold"`
	Released []string `json:"released"`
}

// TestSettleMerchantWithoutBankAccount is issue 10's "payout file: merchant … has no bank
// account": one merchant without an account made settle exit 1 for everyone, every day. Its
// batch must be kept on hold, everyone else paid, and the batch paid (once) after the account
// is added.
func TestSettleMerchantWithoutBankAccount(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		db.seedDay()
		db.bareMerchant("mch_n")
		db.pay("pay_n1", "mch_n", 40000, cliAt(settleDay, 12))

		code, out, errOut := db.run(nil, "settle", "--date", settleDay, "--out", db.out, "--json")
		if code != ExitOK {
			t.Fatalf("settle with a merchant without a bank account: exit %d\n%s\n%s", code, out, errOut)
		}
		var res holdJSON
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var held string
		for _, b := range res.Batches {
			if b.MerchantID == "mch_n" && (b.Status != "on_hold" || b.HoldReason != "no_bank_account" || b.MerchantName != "Shop mch_n") {
				t.Errorf("mch_n batch %+v, want on_hold for no_bank_account", b)
			}
		}
		if len(res.OnHold) != 1 || res.OnHold[0].MerchantID != "mch_n" || res.OnHold[0].Net != 40000-200 {
			t.Fatalf("on_hold %+v, want mch_n's batch", res.OnHold)
		}
		held = res.OnHold[0].BatchID
		if !strings.Contains(errOut, `"level":"warn"`) || !strings.Contains(errOut, "mch_n") {
			t.Errorf("no warning naming mch_n on stderr:\n%s", errOut)
		}
		payout := db.readOut("payout_" + settleDay + ".csv")
		if strings.Contains(payout, "mch_n") || !strings.Contains(payout, "mch_a") {
			t.Errorf("payout file:\n%s", payout)
		}
		if _, err := os.Stat(filepath.Join(db.out, "settlement_"+settleDay+".xlsx")); err != nil {
			t.Errorf("report: %v", err)
		}
		// A held batch cannot be marked paid.
		if code, _, errOut := db.run(nil, "settle", "mark-paid", "--batch", held, "--bank-ref", "B-0"); code != ExitUsage || !strings.Contains(errOut, "on hold") {
			t.Errorf("mark-paid of a held batch: exit %d %s", code, errOut)
		}
		// A re-run is fine too (it failed the same way every day).
		text := db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out)
		if !strings.Contains(text, "on hold") || !strings.Contains(text, "Shop mch_n") {
			t.Errorf("re-run table does not show the hold:\n%s", text)
		}

		// The account is added: the held batch goes into the next payout file, once.
		db.must(ExitOK, nil, "merchant", "update", "mch_n", "--bank-account", "6222020000000777777",
			"--bank-name", "Test Bank", "--bank-account-name", "Shop N Ltd", "--by", "alice")
		next := "2026-11-21"
		if err := json.Unmarshal([]byte(db.must(ExitOK, nil, "settle", "--date", next, "--out", db.out, "--json")), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.OnHold) != 0 || len(res.Released) != 1 || res.Released[0] != held {
			t.Errorf("after the account was added: on_hold %+v released %v", res.OnHold, res.Released)
		}
		p21 := db.readOut("payout_" + next + ".csv")
		if !strings.Contains(p21, held+","+settleDay+",mch_n,Shop N Ltd,Test Bank,6222020000000777777,CNY,398.00") {
			t.Errorf("next payout file does not carry the released batch:\n%s", p21)
		}
		// Regenerating either date's file keeps the released batch in exactly one of them.
		db.must(ExitOK, nil, "settle", "payout", "--date", settleDay, "--out", db.out)
		if p := db.readOut("payout_" + settleDay + ".csv"); strings.Contains(p, held) || !strings.Contains(p, "mch_a") {
			t.Errorf("regenerated %s:\n%s", settleDay, p)
		}
		os.Remove(filepath.Join(db.out, "payout_"+next+".csv"))
		db.must(ExitOK, nil, "settle", "payout", "--date", next, "--out", db.out)
		if p := db.readOut("payout_" + next + ".csv"); p != p21 {
			t.Errorf("regenerated %s:\n%s\nwant\n%s", next, p, p21)
		}
		// Paid once.
		db.must(ExitOK, nil, "settle", "mark-paid", "--batch", held, "--bank-ref", "B-1")
		db.must(ExitOK, nil, "settle", "mark-paid", "--batch", held, "--bank-ref", "B-1")
		if code, _, _ := db.run(nil, "settle", "mark-paid", "--batch", held, "--bank-ref", "B-2"); code != ExitUsage {
			t.Errorf("second payment of the batch: exit %d", code)
		}
		if b, err := db.s.GetSettleBatch(db.ctx, held); err != nil || b.Status != settle.StatusPaid || b.BankRef != "B-1" {
			t.Errorf("batch %+v %v", b, err)
		}
		if p := db.readOut("payout_" + next + ".csv"); !strings.Contains(p, held) {
			t.Errorf("payout file lost the batch before regeneration:\n%s", p)
		}
		db.must(ExitOK, nil, "settle", "payout", "--date", next, "--out", db.out)
		if p := db.readOut("payout_" + next + ".csv"); strings.Contains(p, held) {
			t.Errorf("a paid batch is still listed after regeneration:\n%s", p)
		}
		db.must(ExitOK, nil, "verify")
		_ = store.ErrNotFound
	})
}
