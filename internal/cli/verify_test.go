package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/store"
)

func TestVerifyCleanThenTampered(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		db.seedDay()
		db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out)
		out := db.must(ExitOK, nil, "verify")
		for _, c := range store.LedgerChecks {
			if !strings.Contains(out, c) {
				t.Errorf("verify does not list check %s:\n%s", c, out)
			}
		}
		var clean verifyJSON
		if err := json.Unmarshal([]byte(db.must(ExitOK, nil, "verify", "--json")), &clean); err != nil {
			t.Fatal(err)
		}
		if !clean.OK || len(clean.Checks) != len(store.LedgerChecks) || clean.Problems == nil || len(clean.Problems) != 0 {
			t.Errorf("clean ledger --json: %+v", clean)
		}
		if code, _, errOut := db.run(nil, "verify", "--limit", "0"); code != ExitUsage || !strings.Contains(errOut, "--limit") {
			t.Errorf("--limit 0: exit %d, %s", code, errOut)
		}

		// Tamper: an item's amount no longer adds up to its batch.
		var batchID string
		if err := db.s.DB().GetContext(db.ctx, &batchID, db.s.Rebind(`SELECT batch_id FROM settle_items WHERE object_id = ?`), "pay_a2"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.s.DB().ExecContext(db.ctx, db.s.Rebind(`UPDATE settle_items SET amount = amount + 1 WHERE object_id = ?`), "pay_a2"); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := db.run(nil, "verify")
		if code != ExitFailed {
			t.Fatalf("tampered ledger: exit %d, want 1\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(out, "batch_totals: "+batchID+": ") || !strings.Contains(out, "batch_totals         1 problems") {
			t.Errorf("verify does not name the tampered batch %s:\n%s", batchID, out)
		}
		if !strings.Contains(errOut, "batch_totals") {
			t.Errorf("stderr does not name the failed check:\n%s", errOut)
		}
		code, out, _ = db.run(nil, "verify", "--json")
		var bad verifyJSON
		if err := json.Unmarshal([]byte(out), &bad); err != nil || code != ExitFailed {
			t.Fatalf("tampered --json: exit %d, %v\n%s", code, err, out)
		}
		// The item no longer matches its payment's amount, and the batch no longer its items.
		want := []verifyProblemJSON{{Check: store.CheckSettledOnce, Ref: "pay_a2"}, {Check: store.CheckBatchTotals, Ref: batchID}}
		if bad.OK || len(bad.Problems) != len(want) {
			t.Fatalf("tampered --json: %+v", bad)
		}
		for i, p := range bad.Problems {
			if p.Check != want[i].Check || p.Ref != want[i].Ref || p.Detail == "" {
				t.Errorf("problem %d: %+v, want %+v", i, p, want[i])
			}
		}

		// Tamper the ledger too: a posting's amount changes, its journal no longer balances.
		if _, err := db.s.DB().ExecContext(db.ctx, db.s.Rebind(`UPDATE ledger_postings SET amount = amount + 7
			WHERE id = (SELECT MIN(p.id) FROM ledger_postings p JOIN ledger_journals j ON j.id = p.journal_id WHERE j.kind = 'settlement')`)); err != nil {
			t.Fatal(err)
		}
		code, out, _ = db.run(nil, "verify")
		if code != ExitFailed || !strings.Contains(out, "journal_balanced: ") || !strings.Contains(out, "account_balance: ") {
			t.Errorf("tampered posting: exit %d\n%s", code, out)
		}
	})
}
