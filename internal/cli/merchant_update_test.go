package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/api/cliout"
	"github.com/paygw/paygw/internal/paygw"
)

type auditOut struct {
	MerchantID string         `json:"merchant_id"`
	Audit      []cliout.Audit `json:"audit"`
}

// TestMerchantUpdateSuspendResumeAudit drives issue 10's merchant commands: every change is
// audited (who, when, old -> new, the account number masked, no secret), names are unique,
// create warns without a bank account, and a suspended merchant's batch settles on hold and is
// released by resume.
func TestMerchantUpdateSuspendResumeAudit(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		env := map[string]string{"USER": "carol"}
		code, out, errOut := db.run(env, "merchant", "create", "--name", "Noacct", "--fee-rate-bps", "50", "--json")
		if code != ExitOK {
			t.Fatalf("create: %d %s", code, errOut)
		}
		var m cliout.Merchant
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(errOut, `"level":"warn"`) || !strings.Contains(errOut, "no bank account") {
			t.Errorf("create without a bank account does not warn:\n%s", errOut)
		}
		// Duplicate names are refused, naming the merchant that has it.
		code, _, errOut = db.run(env, "merchant", "create", "--name", "Noacct")
		if code != ExitUsage || !strings.Contains(errOut, m.ID) {
			t.Errorf("duplicate create: exit %d %s; want 2 naming %s", code, errOut, m.ID)
		}
		db.must(ExitOK, env, "merchant", "create", "--name", "Other", "--bank-account", "6222020000000000001")
		code, _, errOut = db.run(env, "merchant", "update", m.ID, "--name", "Other")
		if code != ExitUsage || !strings.Contains(errOut, "already used") {
			t.Errorf("duplicate rename: exit %d %s", code, errOut)
		}
		for _, tt := range []struct {
			name string
			args []string
			want string
		}{
			{"nothing to change", []string{"merchant", "update", m.ID}, "nothing to change"},
			{"unknown merchant", []string{"merchant", "update", "mch_nope", "--name", "x"}, "mch_nope"},
			{"bad account", []string{"merchant", "update", m.ID, "--bank-account", "12ab"}, "digits only"},
			{"bad fee plan", []string{"merchant", "update", m.ID, "--fee-min", "9", "--fee-max", "1"}, "fee plan"},
			{"bad url", []string{"merchant", "update", m.ID, "--notify-url", "ftp://x"}, "--notify-url"},
			{"suspend without reason", []string{"merchant", "suspend", m.ID}, "--reason"},
			{"resume an active merchant", []string{"merchant", "resume", m.ID}, "already active"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code, _, errOut := db.run(env, tt.args...)
				if code != ExitUsage || !strings.Contains(errOut, tt.want) {
					t.Errorf("exit %d %s; want 2 naming %s", code, errOut, tt.want)
				}
			})
		}

		// A suspended merchant's money settles, on hold.
		db.pay("pay_s1", m.ID, 10000, cliAt(settleDay, 10))
		db.must(ExitOK, env, "merchant", "update", m.ID, "--bank-account", "6222020000000123456", "--bank-name", "Test Bank",
			"--fee-max", "40", "--notify-url", "http://127.0.0.1:9/n", "--by", "alice")
		db.must(ExitOK, env, "merchant", "suspend", m.ID, "--reason", "KYC review")
		var res holdJSON
		if err := json.Unmarshal([]byte(db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out, "--json")), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.OnHold) != 1 || res.OnHold[0].Reason != "merchant_suspended" || res.OnHold[0].Net != 10000-40 {
			t.Fatalf("suspended merchant's batch: on_hold %+v", res.OnHold)
		}
		if p := db.readOut("payout_" + settleDay + ".csv"); strings.Contains(p, m.ID) {
			t.Errorf("suspended merchant in the payout file:\n%s", p)
		}
		out = db.must(ExitOK, env, "merchant", "resume", m.ID, "--json")
		var resumed cliout.Merchant
		if err := json.Unmarshal([]byte(out), &resumed); err != nil || resumed.Status != "active" || resumed.ReleasedHolds == nil || *resumed.ReleasedHolds != 1 {
			t.Errorf("resume: %s (%v)", out, err)
		}
		db.must(ExitOK, nil, "settle", "payout", "--date", settleDay, "--out", db.out)
		if p := db.readOut("payout_" + settleDay + ".csv"); !strings.Contains(p, res.OnHold[0].BatchID+","+settleDay+","+m.ID+",,Test Bank,6222020000000123456,CNY,99.60") {
			t.Errorf("released batch not in the regenerated payout file:\n%s", p)
		}

		// The audit trail: who, what, old -> new; the account masked, no secret anywhere.
		var a auditOut
		if err := json.Unmarshal([]byte(db.must(ExitOK, nil, "merchant", "audit", m.ID, "--json")), &a); err != nil {
			t.Fatal(err)
		}
		got := map[string]cliout.Audit{}
		for _, e := range a.Audit {
			got[e.Action+" "+e.Field] = e
		}
		for key, want := range map[string]cliout.Audit{
			"create name":                    {By: "carol", New: "Noacct"},
			"update bank_account.account_no": {By: "alice", Old: "", New: paygw.MaskAccount("6222020000000123456")},
			"update bank_account.bank":       {By: "alice", New: "Test Bank"},
			"update fee_plan.max":            {By: "alice", New: "40"},
			"update notify_url":              {By: "alice", New: "http://127.0.0.1:9/n"},
			"suspend status":                 {By: "carol", Old: "active", New: "suspended", Reason: "KYC review"},
			"resume status":                  {By: "carol", Old: "suspended", New: "active"},
		} {
			e, ok := got[key]
			if !ok || e.By != want.By || e.Old != want.Old || e.New != want.New || e.Reason != want.Reason || e.At.IsZero() {
				t.Errorf("audit %q = %+v, want %+v", key, e, want)
			}
		}
		if len(a.Audit) != 7 {
			t.Errorf("%d audit rows: %+v", len(a.Audit), a.Audit)
		}
		show := db.must(ExitOK, nil, "merchant", "show", m.ID)
		if !strings.Contains(show, "status: active -> suspended (KYC review)") || strings.Contains(show, "6222020000000123456") {
			t.Errorf("merchant show:\n%s", show)
		}
		all := db.must(ExitOK, nil, "merchant", "audit", m.ID)
		if strings.Contains(all, "6222020000000123456") || strings.Contains(all, "sk_") {
			t.Errorf("audit leaks the account number or a secret:\n%s", all)
		}
		// Rotating the secret is audited in the same transaction, without the secret.
		rot := db.must(ExitOK, env, "merchant", "rotate-secret", m.ID, "--json")
		var r cliout.Merchant
		if err := json.Unmarshal([]byte(rot), &r); err != nil || r.Secret == "" {
			t.Fatalf("rotate: %s %v", rot, err)
		}
		all = db.must(ExitOK, nil, "merchant", "audit", m.ID)
		if !strings.Contains(all, "rotate_secret") || strings.Contains(all, r.Secret) {
			t.Errorf("rotate-secret audit:\n%s", all)
		}
		db.must(ExitOK, nil, "verify")
	})
}
