package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// runAt executes `paygw --db DSN args…` like db.run, with the clock stopped at now so that
// created_at, audit times and secret expiry are the same on every run.
func (db *cliDB) runAt(now time.Time, env map[string]string, args ...string) (int, string, string) {
	var o, e lockedBuffer
	app := &App{Stdin: strings.NewReader(""), Stdout: &o, Stderr: &e, Now: func() time.Time { return now },
		Getenv: func(k string) string {
			if v, ok := env[k]; ok || k != "PAYGW_SECRET_KEY" {
				return v
			}
			return "3031323334353637383961626364656630313233343536373839616263646566"
		}}
	root := NewRoot(app)
	root.SetArgs(append([]string{"--db", db.dsn}, args...))
	root.SetIn(app.Stdin)
	root.SetOut(&o)
	root.SetErr(&e)
	cmd, err := root.ExecuteContextC(context.Background())
	code := app.exitCodeOf(cmd, err)
	app.close()
	return code, o.String(), e.String()
}

var (
	goldenMerchantID = regexp.MustCompile(`mch_[A-Za-z0-9]+`)
	goldenSecret     = regexp.MustCompile(`sk_[A-Za-z0-9_-]+`)
)

// TestMerchantOutputGolden pins what every merchant command prints, --json and text, byte for
// byte (ids and secrets, which are random, replaced by placeholders): the output is the
// operator's contract and scripts parse it.
func TestMerchantOutputGolden(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		t0 := time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC)
		env := map[string]string{"USER": "carol"}
		var b strings.Builder
		toPH, toReal := map[string]string{}, map[string]string{} // merchant ids: random <-> mch_N
		step := func(at time.Duration, args ...string) {
			t.Helper()
			shown := strings.Join(args, " ")
			for i, a := range args {
				if id, ok := toReal[a]; ok {
					args[i] = id
				}
			}
			code, out, errOut := db.runAt(t0.Add(at), env, args...)
			if code != ExitOK {
				t.Fatalf("paygw %s: exit %d\n%s", shown, code, errOut)
			}
			out = goldenMerchantID.ReplaceAllStringFunc(out, func(id string) string {
				if _, ok := toPH[id]; !ok {
					ph := fmt.Sprintf("mch_%d", len(toPH)+1)
					toPH[id], toReal[ph] = ph, id
				}
				return toPH[id]
			})
			out = goldenSecret.ReplaceAllString(out, "sk_SECRET")
			fmt.Fprintf(&b, "$ paygw %s\n%s", shown, out)
		}
		step(0, "merchant", "create", "--name", "Acme", "--fee-rate-bps", "45", "--fee-min", "1", "--fee-max", "900",
			"--bank-name", "Test Bank", "--bank-account-name", "Acme Ltd", "--bank-account", "6222021234567890123",
			"--notify-url", "http://127.0.0.1:9/n", "--json")
		step(time.Minute, "merchant", "create", "--name", "Noacct", "--fee-fixed", "5")
		step(2*time.Minute, "merchant", "list", "--json")
		step(2*time.Minute, "merchant", "list")
		step(3*time.Minute, "merchant", "update", "mch_2", "--name", "Has Account", "--bank-account", "6228480012345678901", "--no-fee-min", "--json")
		step(4*time.Minute, "merchant", "update", "mch_1", "--fee-rate-bps", "45")
		step(5*time.Minute, "merchant", "suspend", "mch_1", "--reason", "chargebacks", "--by", "dave", "--json")
		step(6*time.Minute, "merchant", "resume", "mch_1")
		step(7*time.Minute, "merchant", "rotate-secret", "mch_1", "--grace", "2h", "--json")
		step(8*time.Minute, "merchant", "rotate-secret", "mch_2")
		step(9*time.Minute, "merchant", "show", "mch_1", "--json")
		step(9*time.Minute, "merchant", "show", "mch_2")
		step(9*time.Minute, "merchant", "audit", "mch_1", "--json")
		step(9*time.Minute, "merchant", "audit", "mch_2")
		golden := filepath.Join("testdata", "merchant_output.golden")
		if *updateGolden {
			if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if b.String() != string(want) {
			t.Errorf("merchant output differs from %s (run with -update after an intended change):\n got:\n%s\nwant:\n%s", golden, b.String(), want)
		}
	})
}
