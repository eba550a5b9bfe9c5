package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/reconcile"
	"github.com/paygw/paygw/internal/report"
	"github.com/paygw/paygw/internal/settle"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
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

// payUnreconciled makes a payment succeed without marking it reconciled.
func (db *cliDB) payUnreconciled(id, merchant string, amount int64, paidAt time.Time) {
	db.t.Helper()
	db.fixture().Pay(storetest.Payment{ID: id, MerchantID: merchant, Amount: amount, PaidAt: paidAt})
}

// openDiscrepancy stores a reconciliation run of settleDay with one open amount mismatch on
// payment id (which unmarks it as reconciled, as reconcile does).
func (db *cliDB) openDiscrepancy(id, merchant string, ours, theirs int64) {
	db.t.Helper()
	at := cliAt(settleDay, 23)
	run := paygw.ReconRun{ID: paygw.NewID("rcn"), Channel: "sandbox", BusinessDate: settleDay, Format: "sandbox", FileName: "s.csv",
		FileSHA256: strings.Repeat("a", 64), StatementRows: 1, Counts: map[paygw.ReconClass]int64{paygw.ReconAmountMismatch: 1}, Totals: "[]", StartedAt: at, FinishedAt: at}
	err := reconcile.Save(db.ctx, db.s, reconcile.Stored{Run: run, Each: func(item func(paygw.ReconItem) error, _ func(store.ReconRef) error) error {
		return item(paygw.ReconItem{RunID: run.ID, Channel: "sandbox", BusinessDate: settleDay, Class: "amount_mismatch", Kind: "payment",
			PaymentID: id, MerchantID: merchant, ChannelTradeNo: "ct-" + id, Currency: "CNY", InternalAmount: ours, ChannelAmount: theirs,
			InternalStatus: "succeeded", ChannelStatus: "SUCCESS", State: "open"})
	}}, at)
	if err != nil {
		db.t.Fatal(err)
	}
}

// TestSettleShowsWhatIsHeldBack is issue 10's "payments held back from settlement are
// invisible": settle's table, --json and the workbook name what was left out and why, with
// counts and amounts per merchant and currency.
func TestSettleShowsWhatIsHeldBack(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		db.merchant("mch_a", paygw.FeePlan{RateBps: 60})
		db.pay("pay_ok", "mch_a", 10000, cliAt(settleDay, 9))
		db.payUnreconciled("pay_unrec", "mch_a", 2000, cliAt(settleDay, 10))
		db.payUnreconciled("pay_unrec2", "mch_a", 500, cliAt("2026-11-19", 10))
		db.pay("pay_disc", "mch_a", 3000, cliAt(settleDay, 11))
		db.openDiscrepancy("pay_disc", "mch_a", 3000, 3001)
		db.refund("ref_w", "pay_unrec", 700, cliAt(settleDay, 12)) // reconciled, but its payment is not settled

		out := db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out, "--json")
		var res settleJSON
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		want := []heldBackJSON{
			{MerchantID: "mch_a", MerchantName: "Shop mch_a", Currency: "CNY", Kind: "payment", Reason: "not_reconciled", Count: 2, Amount: 2500},
			{MerchantID: "mch_a", MerchantName: "Shop mch_a", Currency: "CNY", Kind: "payment", Reason: "open_discrepancy", Count: 1, Amount: 3000},
			{MerchantID: "mch_a", MerchantName: "Shop mch_a", Currency: "CNY", Kind: "refund", Reason: "payment_not_settled", Count: 1, Amount: 700},
		}
		if !slices.Equal(res.HeldBack, want) {
			t.Errorf("held_back:\n got %+v\nwant %+v", res.HeldBack, want)
		}
		if len(res.Batches) != 1 || res.Batches[0].Gross != 10000 || res.Batches[0].MerchantName != "Shop mch_a" {
			t.Errorf("batches %+v", res.Batches)
		}
		// A dry run of the next date shows the same, without counting what it would settle.
		next := db.must(ExitOK, nil, "settle", "--date", "2026-11-21", "--out", db.out, "--dry-run", "--json")
		var dry settleJSON
		if err := json.Unmarshal([]byte(next), &dry); err != nil || !slices.Equal(dry.HeldBack, want) {
			t.Errorf("dry run held_back %+v (%v)", dry.HeldBack, err)
		}

		text := db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out)
		for _, s := range []string{"held back from settlement", "not reconciled", "open reconciliation discrepancy",
			"refund waits for its payment", "25.00", "30.00", "7.00", "Shop mch_a"} {
			if !strings.Contains(text, s) {
				t.Errorf("settle table does not show %q:\n%s", s, text)
			}
		}
		rows, err := report.ReadSheet(filepath.Join(db.out, "settlement_"+settleDay+".xlsx"), "Held back")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 4 || rows[1][7] != "not reconciled" || rows[1][8] != "2" || rows[2][7] != "open reconciliation discrepancy" ||
			rows[3][6] != "Refund" {
			t.Errorf("Held back sheet: %q", rows)
		}
		db.must(ExitOK, nil, "verify")
	})
}
