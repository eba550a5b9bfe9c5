package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/paygw/paygw/internal/paygw"
)

// TestResolveAcceptedSidesSettleOnce is issue 10's "a discrepancy accepted either way", end to
// end through the commands on SQLite and PostgreSQL: reconcile a bill with amount and fee
// mismatches and a payment the channel never collected, resolve each, settle, verify. The
// merchant is paid the accepted amounts exactly once (a difference accepted after its payment
// was settled goes into the next date's batch), verify is clean, and re-runs change nothing.
func TestResolveAcceptedSidesSettleOnce(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		const next = "2026-11-21"
		db.merchant("mch_a", paygw.FeePlan{RateBps: 60})
		for i, p := range []struct {
			id     string
			amount int64
		}{{"pay_ok", 10000}, {"pay_up", 58299}, {"pay_down", 20000}, {"pay_fee", 30000}, {"pay_ours", 40000}, {"pay_miss", 5000}} {
			db.pay(p.id, "mch_a", p.amount, cliAt(settleDay, 9+i))
		}
		cfg := writeConfig(t, fmt.Sprintf("timezone: Asia/Shanghai\nchannels:\n  sandbox:\n    kind: sandbox\n    url: http://127.0.0.1:1\n"+
			"    secret: x\n    fee_rate_bps: 30\nreconcile:\n  out_dir: %s\nsettle:\n  out_dir: %s\n", db.out, db.out))
		bill := filepath.Join("testdata", "resolve", "sandbox_"+settleDay+".csv")
		reconcileBill := func(file string) map[string]reconItemJSON {
			t.Helper()
			out := db.must(ExitOK, nil, "--config", cfg, "reconcile", "--channel", "sandbox", "--date", settleDay, "--file", file, "--json")
			items := map[string]reconItemJSON{}
			for _, it := range decodeJSON[reconcileJSON](t, out).Items {
				if it.State == string(paygw.ReconItemOpen) {
					items[it.PaymentID] = it
				}
			}
			return items
		}
		items := reconcileBill(bill)
		for id, class := range map[string]string{"pay_up": "amount_mismatch", "pay_down": "amount_mismatch", "pay_fee": "fee_mismatch",
			"pay_ours": "amount_mismatch", "pay_miss": "missing_channel"} {
			if items[id].Class != class {
				t.Fatalf("%s: item %+v, want %s (all %+v)", id, items[id], class, items)
			}
		}
		resolve := func(want int, id, accept string) string {
			t.Helper()
			code, out, errOut := db.run(nil, "--config", cfg, "reconcile", "resolve", strconv.FormatInt(items[id].ID, 10),
				"--accept", accept, "--note", "checked with the channel, ticket 4711", "--by", "alice")
			if code != want {
				t.Fatalf("resolve %s --accept %s: exit %d, want %d\n%s\n%s", id, accept, code, want, out, errOut)
			}
			return out + errOut
		}
		if out := resolve(ExitOK, "pay_up", "channel"); !strings.Contains(out, "+1.00 CNY") || !strings.Contains(out, "next settlement") {
			t.Errorf("resolve pay_up does not say what it posted: %q", out)
		}
		out := db.must(ExitOK, nil, "--config", cfg, "reconcile", "resolve", strconv.FormatInt(items["pay_down"].ID, 10),
			"--accept", "channel", "--note", "channel collected 199.50", "--by", "alice", "--json")
		if got := decodeJSON[reconItemJSON](t, out); got.Adjustment == nil || got.Adjustment.Kind != "amount" ||
			got.Adjustment.Amount != -50 || got.Adjustment.ObjectID != "pay_down" || got.Adjustment.Currency != "CNY" || got.Resolution != "accept_channel" {
			t.Errorf("resolve --json: %s", out)
		}
		if out := resolve(ExitOK, "pay_fee", "channel"); !strings.Contains(out, "fee cost") {
			t.Errorf("resolve pay_fee does not say what it posted: %q", out)
		}
		resolve(ExitOK, "pay_ours", "ours")
		if out := resolve(ExitUsage, "pay_miss", "channel"); !strings.Contains(out, "never collected") || !strings.Contains(out, "pay_miss") {
			t.Errorf("resolve pay_miss --accept channel: %q", out)
		}
		resolve(ExitUsage, "pay_up", "channel") // already resolved: nothing posted twice

		// Merchant fees at 0.60%: 60 + 350 + 120 + 180 + 240 = 950 (adjustments carry none);
		// gross 158,299 of payments + 100 accepted up; 50 accepted down; pay_miss is held back.
		db.must(ExitOK, nil, "--config", cfg, "settle", "--date", settleDay, "--out", db.out)
		want := paygw.SettleBatch{MerchantID: "mch_a", Currency: "CNY", Date: settleDay, Payments: 5, Refunds: 0,
			Gross: 158399, Refunded: 50, Fee: 950, Net: 157399, Status: "settled"}
		checkBatch := func(date string, want paygw.SettleBatch) string {
			t.Helper()
			bs := db.batches(date)
			if len(bs) != 1 {
				t.Fatalf("batches of %s: %+v", date, bs)
			}
			b := bs[0]
			if b.MerchantID != want.MerchantID || b.Currency != want.Currency || b.Payments != want.Payments || b.Refunds != want.Refunds ||
				b.Gross != want.Gross || b.Refunded != want.Refunded || b.Fee != want.Fee || b.Net != want.Net || b.Status != want.Status {
				t.Errorf("batch of %s: %+v\nwant %+v", date, b, want)
			}
			return b.ID
		}
		batch := checkBatch(settleDay, want)
		payout, err := os.ReadFile(filepath.Join(db.out, "payout_"+settleDay+".csv"))
		if err != nil || !strings.Contains(string(payout), batch+","+settleDay+",mch_a,") || !strings.Contains(string(payout), ",CNY,1573.99\n") {
			t.Errorf("payout file: %v\n%s", err, payout)
		}
		detail := detailRows(t, filepath.Join(db.out, "settlement_"+settleDay+".xlsx"))
		for _, w := range []string{"Adjustment pay_up 1.00", "Adjustment pay_down -0.50"} {
			if !strings.Contains(detail, w) {
				t.Errorf("settlement Detail has no line %q:\n%s", w, detail)
			}
		}
		db.must(ExitOK, nil, "--config", cfg, "verify")

		// Re-runs: the same bill carries the resolutions over, settle is a no-op, verify stays
		// clean, and each difference has exactly one journal.
		reconcileBill(bill)
		db.must(ExitOK, nil, "--config", cfg, "settle", "--date", settleDay, "--out", db.out)
		checkBatch(settleDay, want)
		db.must(ExitOK, nil, "--config", cfg, "verify")

		// A corrected bill after payout: pay_ok was 100.10. Accepting it pays the 0.10 in the
		// next date's batch, on its own; the first batch is untouched.
		items = reconcileBill(filepath.Join("testdata", "resolve", "sandbox_"+settleDay+"_corrected.csv"))
		if items["pay_ok"].Class != "amount_mismatch" {
			t.Fatalf("corrected bill: %+v", items)
		}
		resolve(ExitOK, "pay_ok", "channel")
		db.must(ExitOK, nil, "--config", cfg, "settle", "--date", next, "--out", db.out)
		checkBatch(settleDay, want)
		checkBatch(next, paygw.SettleBatch{MerchantID: "mch_a", Currency: "CNY", Gross: 10, Net: 10, Status: "settled"})
		db.must(ExitOK, nil, "--config", cfg, "settle", "--date", next, "--out", db.out)
		checkBatch(next, paygw.SettleBatch{MerchantID: "mch_a", Currency: "CNY", Gross: 10, Net: 10, Status: "settled"})
		db.must(ExitOK, nil, "--config", cfg, "verify")
		for id, want := range map[string]int{"pay_up": 1, "pay_down": 1, "pay_ok": 1, "pay_ours": 0, "pay_miss": 0, "pay_fee": 0} {
			var n int
			if err := db.s.DB().GetContext(db.ctx, &n, db.s.Rebind(`SELECT COUNT(*) FROM ledger_journals j
				JOIN recon_adjustments a ON a.id = j.ref_id WHERE j.kind = 'amount_adjustment' AND a.object_id = ?`), id); err != nil || n != want {
				t.Errorf("%s: %d amount adjustment journals, %v; want %d", id, n, err, want)
			}
		}
	})
}

// detailRows returns the settlement workbook's Detail sheet as lines of "type id amount".
func detailRows(t *testing.T, path string) string {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Detail")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no Detail rows")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	typ, id, amount := col["Type"], col["Transaction ID"], col["Amount"]
	if typ == id || id == amount {
		t.Fatalf("Detail header %q", rows[0])
	}
	var b strings.Builder
	for _, r := range rows {
		if len(r) > max(typ, id, amount) {
			fmt.Fprintf(&b, "%s %s %s\n", r[typ], r[id], r[amount])
		}
	}
	return b.String()
}

// TestResolvedDifferenceWaitsForItsPayment: an accepted difference is never paid before the
// payment it corrects. A later bill that drops the payment takes it (and so its difference)
// out of settlement; when a bill carries it again, both are paid together, once. verify finds a
// tampered adjustment.
func TestResolvedDifferenceWaitsForItsPayment(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		const next = "2026-11-21"
		db.merchant("mch_a", paygw.FeePlan{RateBps: 60})
		db.pay("pay_ok", "mch_a", 10000, cliAt(settleDay, 9))
		db.pay("pay_up", "mch_a", 58299, cliAt(settleDay, 10))
		cfg := writeConfig(t, fmt.Sprintf("timezone: Asia/Shanghai\nchannels:\n  sandbox:\n    kind: sandbox\n    url: http://127.0.0.1:1\n"+
			"    secret: x\n    fee_rate_bps: 30\nreconcile:\n  out_dir: %s\nsettle:\n  out_dir: %s\n", db.out, db.out))
		reconcileBill := func(name string) []reconItemJSON {
			t.Helper()
			out := db.must(ExitOK, nil, "--config", cfg, "reconcile", "--channel", "sandbox", "--date", settleDay,
				"--file", filepath.Join("testdata", "resolve", name), "--json")
			return decodeJSON[reconcileJSON](t, out).Items
		}
		var up reconItemJSON
		for _, it := range reconcileBill("sandbox_" + settleDay + ".csv") {
			if it.PaymentID == "pay_up" {
				up = it
			}
		}
		if up.Class != "amount_mismatch" {
			t.Fatalf("pay_up item %+v", up)
		}
		db.must(ExitOK, nil, "--config", cfg, "reconcile", "resolve", strconv.FormatInt(up.ID, 10), "--accept", "channel",
			"--note", "channel collected 583.99", "--by", "alice")
		// The channel's next bill for the date no longer has pay_up: it is a discrepancy again.
		reconcileBill("sandbox_" + settleDay + "_without_pay_up.csv")
		db.must(ExitOK, nil, "--config", cfg, "settle", "--date", settleDay, "--out", db.out)
		bs := db.batches(settleDay)
		if len(bs) != 1 || bs[0].Payments != 1 || bs[0].Gross != 10000 || bs[0].Refunded != 0 || bs[0].Net != 9940 {
			t.Fatalf("batch without pay_up: %+v", bs)
		}
		db.must(ExitOK, nil, "--config", cfg, "verify")
		// The full bill again: pay_up's difference is open again (the run before did not have
		// it); accepting it posts nothing more, pay_up is reconciled, and the next date's batch
		// pays it with its difference: 583.99 − 3.50.
		for _, it := range reconcileBill("sandbox_" + settleDay + ".csv") {
			if it.PaymentID == "pay_up" {
				up = it
			}
		}
		if up.State != string(paygw.ReconItemOpen) {
			t.Fatalf("pay_up item %+v", up)
		}
		out := db.must(ExitOK, nil, "--config", cfg, "reconcile", "resolve", strconv.FormatInt(up.ID, 10), "--accept", "channel",
			"--note", "same bill", "--by", "alice")
		if !strings.Contains(out, "already posted") {
			t.Errorf("resolve of a difference already posted: %q", out)
		}
		db.must(ExitOK, nil, "--config", cfg, "settle", "--date", next, "--out", db.out)
		bs = db.batches(next)
		if len(bs) != 1 || bs[0].Payments != 1 || bs[0].Gross != 58399 || bs[0].Fee != 350 || bs[0].Net != 58049 {
			t.Fatalf("batch of %s: %+v", next, bs)
		}
		db.must(ExitOK, nil, "--config", cfg, "verify")

		// Tamper: the stored difference no longer matches its journal or its batch.
		if _, err := db.s.DB().ExecContext(db.ctx, db.s.Rebind(`UPDATE recon_adjustments SET amount = amount + 1 WHERE object_id = ?`), "pay_up"); err != nil {
			t.Fatal(err)
		}
		var code int
		code, out, _ = db.run(nil, "--config", cfg, "verify")
		if code != ExitFailed || !strings.Contains(out, "adjustment: pay_up") || !strings.Contains(out, "batch_totals: "+bs[0].ID) {
			t.Errorf("verify after tampering: exit %d\n%s", code, out)
		}
	})
}
