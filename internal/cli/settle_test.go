package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/settle"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// cliDB is a migrated database the tests drive through the real command tree (Main) while
// seeding and inspecting it through their own store handle.
type cliDB struct {
	t   *testing.T
	dsn string
	s   *store.Store
	ctx context.Context
	out string // --out of settle and report
}

// eachCLIDB runs fn on a fresh SQLite file and, with PAYGW_TEST_POSTGRES, a fresh PostgreSQL
// schema. The test's store uses the keyring the command does (the test key, given to commands
// as PAYGW_SECRET_KEY by run), so bank accounts it seals are readable by settle's payout file.
func eachCLIDB(t *testing.T, fn func(t *testing.T, db *cliDB)) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, d)
			s, err := store.Open(ctx, dsn, store.Options{Keys: storetest.TestKeys()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if _, err := s.MigrateUp(ctx); err != nil {
				t.Fatal(err)
			}
			fn(t, &cliDB{t: t, dsn: dsn, s: s, ctx: ctx, out: t.TempDir()})
		})
	}
}

// lockedBuffer collects a command's output; settle's workers log concurrently, and like
// os.Stderr the writer must take concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// run executes `paygw --db DSN args…` with env as the whole environment.
func (db *cliDB) run(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var o, e lockedBuffer
	all := append([]string{"--db", db.dsn}, args...)
	getenv := func(k string) string {
		if v, ok := env[k]; ok || k != "PAYGW_SECRET_KEY" {
			return v
		}
		return "3031323334353637383961626364656630313233343536373839616263646566" // storetest.TestKeys
	}
	code = Main(context.Background(), all, strings.NewReader(""), &o, &e, getenv)
	return code, o.String(), e.String()
}

// must runs a command that has to exit with want.
func (db *cliDB) must(want int, env map[string]string, args ...string) string {
	db.t.Helper()
	code, out, errOut := db.run(env, args...)
	if code != want {
		db.t.Fatalf("paygw %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out
}

var cliShanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

// cliAt is an instant of business date d (Asia/Shanghai, the default config's zone) at hh:00.
func cliAt(d string, hh int) time.Time {
	t, err := time.ParseInLocation("2006-01-02", d, cliShanghai)
	if err != nil {
		panic(err)
	}
	return t.Add(time.Duration(hh) * time.Hour)
}

func (db *cliDB) merchant(id string, plan paygw.FeePlan) {
	db.t.Helper()
	db.fixture().Merchant(storetest.MerchantOptions{ID: id, Plan: plan, AccountNo: "622202000000" + fmt.Sprintf("%07d", len(id)*131)})
}

// fixture is the shared storetest fixture on db's store, business dates in Asia/Shanghai.
func (db *cliDB) fixture() *storetest.Fixture { return storetest.NewFixture(db.t, db.s, cliShanghai) }

// pay makes a CNY payment succeed at paidAt through the online entry points (journal and all)
// and marks it reconciled.
func (db *cliDB) pay(id, merchant string, amount int64, paidAt time.Time) {
	db.t.Helper()
	db.fixture().Pay(storetest.Payment{ID: id, MerchantID: merchant, Amount: amount, PaidAt: paidAt, Reconciled: true})
}

// refund refunds amount of payment at at, succeeded and reconciled.
func (db *cliDB) refund(id, payment string, amount int64, at time.Time) {
	db.t.Helper()
	if err := db.fixture().Refund(storetest.Refund{ID: id, PaymentID: payment, Amount: amount, At: at, Reconciled: true}); err != nil {
		db.t.Fatal(err)
	}
}

func (db *cliDB) batches(date string) []paygw.SettleBatch {
	db.t.Helper()
	bs, err := db.s.SettleBatchesOn(db.ctx, date)
	if err != nil {
		db.t.Fatal(err)
	}
	return bs
}

func (db *cliDB) files() []string {
	db.t.Helper()
	es, err := os.ReadDir(db.out)
	if err != nil {
		db.t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

const settleDay = "2026-11-20"

// seedDay gives mch_a two payments and a partial refund on settleDay (net settled), mch_b a
// payment fully refunded (net 0, carried), and mch_c a payment of the next day.
func (db *cliDB) seedDay() {
	db.t.Helper()
	db.merchant("mch_a", paygw.FeePlan{RateBps: 60})
	db.merchant("mch_b", paygw.FeePlan{RateBps: 100, Fixed: 10})
	db.merchant("mch_c", paygw.FeePlan{RateBps: 30})
	db.pay("pay_a1", "mch_a", 10000, cliAt(settleDay, 9))
	db.pay("pay_a2", "mch_a", 2550, cliAt(settleDay, 23))
	db.refund("ref_a1", "pay_a1", 2500, cliAt(settleDay, 15))
	db.pay("pay_b1", "mch_b", 300, cliAt(settleDay, 10))
	db.refund("ref_b1", "pay_b1", 300, cliAt(settleDay, 11))
	db.pay("pay_c1", "mch_c", 500, cliAt("2026-11-21", 1))
}

// wantSettleDay is seedDay's settlement of settleDay as API.md's JSON (with issue 10's added
// fields: merchant names, on_hold, released, held_back): mch_a fees 60 + 15 (2550 × 0.6% =
// 15.3) − 15 returned (2500/10000 of 60); mch_b's refund returns its whole fee.
const wantSettleDay = `{"date":"2026-11-20","batches":[` +
	`{"merchant_id":"mch_a","merchant_name":"Shop mch_a","currency":"CNY","payments":2,"refunds":1,"gross":12550,"refunded":2500,"fee":60,"carried_in":0,"net":9990,"status":"settled"},` +
	`{"merchant_id":"mch_b","merchant_name":"Shop mch_b","currency":"CNY","payments":1,"refunds":1,"gross":300,"refunded":300,"fee":0,"carried_in":0,"net":0,"status":"carried"}],` +
	`"on_hold":[],"released":[],"held_back":[]}`

func TestSettleJSONShapeAndRerun(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		db.seedDay()
		out := db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out, "--json")
		if got := strings.TrimSpace(out); got != wantSettleDay {
			t.Fatalf("settle --json:\n got %s\nwant %s", got, wantSettleDay)
		}
		// API.md's keys, plus the fields issue 10 added (fields may be added, never renamed).
		var shape map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &shape); err != nil {
			t.Fatal(err)
		}
		if ks := mapKeys(shape); !slices.Equal(ks, []string{"batches", "date", "held_back", "on_hold", "released"}) {
			t.Errorf("top-level keys %v", ks)
		}
		var bs []map[string]any
		if err := json.Unmarshal(shape["batches"], &bs); err != nil {
			t.Fatal(err)
		}
		want := []string{"carried_in", "currency", "fee", "gross", "merchant_id", "merchant_name", "net", "payments", "refunded", "refunds", "status"}
		for _, b := range bs {
			if ks := mapKeys(b); !slices.Equal(ks, want) {
				t.Errorf("batch keys %v, want %v", ks, want)
			}
		}
		first := db.batches(settleDay)
		if len(first) != 2 {
			t.Fatalf("%d batches stored", len(first))
		}

		// A re-run prints the same batches and writes nothing new.
		again := db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out, "--json")
		if again != out {
			t.Errorf("re-run printed\n%s\nfirst run\n%s", again, out)
		}
		text := db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out)
		for _, b := range first {
			if !strings.Contains(text, b.ID) {
				t.Errorf("re-run's table does not name batch %s:\n%s", b.ID, text)
			}
		}
		if !strings.Contains(text, "2 batches, 0 new") {
			t.Errorf("re-run summary:\n%s", text)
		}
		if got := db.batches(settleDay); !slices.EqualFunc(first, got, func(a, b paygw.SettleBatch) bool { return a.ID == b.ID }) {
			t.Errorf("re-run changed the batches: %+v", got)
		}
		db.must(ExitOK, nil, "verify")
	})
}

func mapKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestSettleOpenDayAndUsage(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		db.merchant("mch_a", paygw.FeePlan{RateBps: 60})
		tomorrow := time.Now().In(cliShanghai).AddDate(0, 0, 1).Format("2006-01-02")
		code, out, errOut := db.run(nil, "settle", "--date", tomorrow, "--out", db.out)
		if code != ExitUsage || !strings.Contains(errOut, "--allow-open-day") || !strings.Contains(errOut, tomorrow) {
			t.Errorf("open day: exit %d, stderr %q; want 2 naming the date and --allow-open-day", code, errOut)
		}
		if out != "" {
			t.Errorf("stdout on a refused open day: %q", out)
		}
		db.must(ExitOK, nil, "settle", "--date", tomorrow, "--allow-open-day", "--out", db.out, "--json")

		for _, tt := range []struct {
			name string
			env  map[string]string
			args []string
			want string
		}{
			{"shard without shards", nil, []string{"--shard", "1"}, "--shard"},
			{"shard out of range", nil, []string{"--shard", "2", "--shards", "2"}, "--shard 2"},
			{"negative shards", nil, []string{"--shards", "-1"}, "--shards"},
			{"merchant and shards", nil, []string{"--merchant", "mch_a", "--shards", "2"}, "--merchant"},
			{"bad date", nil, []string{"--date", "2026-11-31"}, "--date"},
			{"bad completion index", map[string]string{"JOB_COMPLETION_INDEX": "x"}, []string{"--shards", "2"}, "--shard"},
			{"completion index out of range", map[string]string{"JOB_COMPLETION_INDEX": "3"}, []string{"--shards", "2"}, "--shard 3"},
			{"unknown merchant", nil, []string{"--date", settleDay, "--merchant", "mch_nope"}, "mch_nope"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := db.run(tt.env, append([]string{"settle", "--out", db.out}, tt.args...)...)
				if code != ExitUsage || !strings.Contains(errOut, tt.want) {
					t.Errorf("exit %d, stderr %q; want 2 naming %s", code, errOut, tt.want)
				}
				if out != "" {
					t.Errorf("stdout on a usage error: %q", out)
				}
			})
		}
		if bs := db.batches(settleDay); len(bs) != 0 {
			t.Errorf("usage errors wrote batches: %+v", bs)
		}
	})
}

func TestSettleDryRunWritesNothing(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		db.seedDay()
		out := db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out, "--dry-run", "--json")
		if got := strings.TrimSpace(out); got != wantSettleDay {
			t.Fatalf("dry run --json:\n got %s\nwant %s", got, wantSettleDay)
		}
		text := db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out, "--dry-run")
		if !strings.Contains(text, "(dry run") || strings.Contains(text, "stb_") {
			t.Errorf("dry run table:\n%s", text)
		}
		if bs := db.batches(settleDay); len(bs) != 0 {
			t.Errorf("dry run wrote batches: %+v", bs)
		}
		if fs := db.files(); len(fs) != 0 {
			t.Errorf("dry run wrote files %v", fs)
		}
		runs, err := db.s.ListJobRuns(db.ctx, "settle", 10)
		if err != nil || len(runs) != 0 {
			t.Errorf("dry run recorded job runs %+v (%v)", runs, err)
		}
		db.must(ExitOK, nil, "verify")
		// The real run then writes what the dry run showed.
		if got := strings.TrimSpace(db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out, "--json")); got != wantSettleDay {
			t.Errorf("run after the dry run: %s", got)
		}
	})
}

func TestSettleShards(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		const n = 3
		byShard := map[int][]string{}
		for i := range 8 {
			id := fmt.Sprintf("mch_%02d", i)
			db.merchant(id, paygw.FeePlan{RateBps: 10})
			db.pay("pay_"+id, id, 1000+int64(i), cliAt(settleDay, 12))
			byShard[settle.Shard(id, n)] = append(byShard[settle.Shard(id, n)], id)
		}
		settled := map[string]int{}
		for shard := range n {
			// Shard 0 by flag, the others as a Kubernetes Indexed Job would: JOB_COMPLETION_INDEX.
			args := []string{"settle", "--date", settleDay, "--out", db.out, "--shards", fmt.Sprint(n), "--json"}
			var env map[string]string
			if shard == 0 {
				args = append(args, "--shard", "0")
				env = map[string]string{"JOB_COMPLETION_INDEX": "2"} // the flag wins
			} else {
				env = map[string]string{"JOB_COMPLETION_INDEX": fmt.Sprint(shard)}
			}
			var res settleJSON
			if err := json.Unmarshal([]byte(db.must(ExitOK, env, args...)), &res); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range res.Batches {
				got = append(got, b.MerchantID)
				settled[b.MerchantID]++
			}
			if !slices.Equal(got, byShard[shard]) {
				t.Errorf("shard %d settled %v, want %v", shard, got, byShard[shard])
			}
			name := fmt.Sprintf("payout_%s_shard-%d-of-%d.csv", settleDay, shard, n)
			data, err := os.ReadFile(filepath.Join(db.out, name))
			if err != nil {
				t.Fatalf("shard %d payout file: %v", shard, err)
			}
			if lines := strings.Count(string(data), "\n"); lines != 1+len(byShard[shard]) {
				t.Errorf("%s has %d lines:\n%s", name, lines, data)
			}
			if _, err := os.Stat(filepath.Join(db.out, fmt.Sprintf("settlement_%s_shard-%d-of-%d.xlsx", settleDay, shard, n))); err != nil {
				t.Errorf("shard %d report: %v", shard, err)
			}
		}
		if len(settled) != 8 {
			t.Errorf("shards settled %d merchants, want 8: %v", len(settled), settled)
		}
		for m, c := range settled {
			if c != 1 {
				t.Errorf("%s settled by %d shards", m, c)
			}
		}
		runs, err := db.s.ListJobRuns(db.ctx, "settle", 10)
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, r := range runs {
			ks = append(ks, r.BusinessKey)
		}
		sort.Strings(ks)
		want := []string{settleDay + "/shard-0-of-3", settleDay + "/shard-1-of-3", settleDay + "/shard-2-of-3"}
		if !slices.Equal(ks, want) {
			t.Errorf("job runs %v, want %v", ks, want)
		}
		db.must(ExitOK, nil, "verify")
	})
}

func TestSettleLeaseHeld(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		db.seedDay()
		const holder = "other-host/4242/run_other"
		if ok, _, err := db.s.AcquireLease(db.ctx, "settle:"+settleDay, holder, "run_other", time.Hour, time.Now()); err != nil || !ok {
			t.Fatalf("take the lease: %v %v", ok, err)
		}
		code, out, errOut := db.run(nil, "settle", "--date", settleDay, "--out", db.out)
		if code != ExitOK {
			t.Fatalf("loser exit %d, want 0\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(out, holder) || !strings.Contains(errOut, holder) {
			t.Errorf("the loser does not name the holder %s:\nstdout %s\nstderr %s", holder, out, errOut)
		}
		if bs := db.batches(settleDay); len(bs) != 0 {
			t.Errorf("the loser settled: %+v", bs)
		}
		// --json still prints exactly one object.
		var res settleJSON
		if err := json.Unmarshal([]byte(db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out, "--json")), &res); err != nil ||
			res.Date != settleDay || res.Batches == nil || len(res.Batches) != 0 {
			t.Errorf("loser --json: %+v %v", res, err)
		}
		runs, err := db.s.ListJobRuns(db.ctx, "settle", 10)
		if err != nil || len(runs) != 2 || runs[0].Status != paygw.JobSkipped {
			t.Errorf("job runs %+v (%v), want two skipped", runs, err)
		}
		// Another date is not blocked.
		db.must(ExitOK, nil, "settle", "--date", "2026-11-21", "--out", db.out, "--json")
	})
}

// TestSettleConcurrentProcesses runs two settle commands at once, each with its own store: both
// exit 0, exactly one set of batches exists, and a loser names who held the lease (or, when the
// runs did not overlap, printed the same batches).
func TestSettleConcurrentProcesses(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		db.seedDay()
		for i := range 20 {
			id := fmt.Sprintf("mch_x%02d", i)
			db.merchant(id, paygw.FeePlan{RateBps: 25})
			db.pay("pay_"+id, id, 5000+int64(i), cliAt(settleDay, 8))
		}
		type result struct {
			code        int
			out, errOut string
		}
		res := make([]result, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range res {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, o, e := db.run(nil, "settle", "--date", settleDay, "--out", filepath.Join(db.out, fmt.Sprint(i)))
				res[i] = result{c, o, e}
			}()
		}
		close(start)
		wg.Wait()
		ran := 0
		for i, r := range res {
			if r.code != ExitOK {
				t.Fatalf("run %d: exit %d\n%s\n%s", i, r.code, r.out, r.errOut)
			}
			if strings.Contains(r.out, "another run holds the lease") {
				if !strings.Contains(r.out, "held by ") || !strings.Contains(r.errOut, `"holder"`) {
					t.Errorf("run %d skipped without naming the holder:\n%s\n%s", i, r.out, r.errOut)
				}
				continue
			}
			ran++
			if !strings.Contains(r.out, "22 batches") {
				t.Errorf("run %d:\n%s", i, r.out)
			}
		}
		if ran == 0 {
			t.Fatal("neither run settled")
		}
		if bs := db.batches(settleDay); len(bs) != 22 {
			t.Errorf("%d batches, want 22", len(bs))
		}
		db.must(ExitOK, nil, "verify")
	})
}

func TestSettlePayoutFileAndMarkPaid(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		db.seedDay()
		db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out)
		path := filepath.Join(db.out, "payout_"+settleDay+".csv")
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("payout file mode %v, want 0600", st.Mode().Perm())
		}
		bs := db.batches(settleDay)
		var paid, carried paygw.SettleBatch
		for _, b := range bs {
			if b.MerchantID == "mch_a" {
				paid = b
			} else {
				carried = b
			}
		}
		data, _ := os.ReadFile(path)
		want := "batch_id,date,merchant_id,account_name,bank,account_no,currency,amount\n" +
			paid.ID + ",2026-11-20,mch_a,Shop mch_a Ltd,Test Bank,6222020000000000655,CNY,99.90\n"
		if string(data) != want {
			t.Errorf("payout file:\n%s\nwant:\n%s", data, want)
		}
		if fs := db.files(); !slices.Equal(fs, []string{"payout_" + settleDay + ".csv", "settlement_" + settleDay + ".xlsx"}) {
			t.Errorf("files %v", fs)
		}

		out := db.must(ExitOK, nil, "settle", "mark-paid", "--batch", paid.ID, "--bank-ref", "BANK-1")
		if !strings.Contains(out, "paid 1, already paid 0") {
			t.Errorf("mark-paid: %s", out)
		}
		out = db.must(ExitOK, nil, "settle", "mark-paid", "--batch", paid.ID, "--bank-ref", "BANK-1", "--json")
		if strings.TrimSpace(out) != `{"paid":[],"unchanged":["`+paid.ID+`"],"failed":[]}` {
			t.Errorf("mark-paid again with the same ref: %s", out)
		}
		for _, tt := range []struct{ name, batch, ref, want string }{
			{"another ref", paid.ID, "BANK-2", "another bank reference"},
			{"carried batch", carried.ID, "BANK-3", "nothing to pay out"},
			{"unknown batch", "stb_nope", "BANK-4", "stb_nope"},
		} {
			code, _, errOut := db.run(nil, "settle", "mark-paid", "--batch", tt.batch, "--bank-ref", tt.ref)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, tt.batch) {
				t.Errorf("%s: exit %d, stderr %q; want 2 naming %s", tt.name, code, errOut, tt.want)
			}
		}
		b, err := db.s.GetSettleBatch(db.ctx, paid.ID)
		if err != nil || b.Status != settle.StatusPaid || b.BankRef != "BANK-1" {
			t.Errorf("paid batch %+v (%v)", b, err)
		}
		for _, args := range [][]string{{"--batch", paid.ID}, {"--file", "x.csv", "--batch", paid.ID}, {}} {
			if code, _, _ := db.run(nil, append([]string{"settle", "mark-paid"}, args...)...); code != ExitUsage {
				t.Errorf("mark-paid %v: exit %d, want 2", args, code)
			}
		}
		// The re-written payout file no longer lists the paid batch.
		db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out)
		if data, _ := os.ReadFile(path); strings.Contains(string(data), paid.ID) {
			t.Errorf("paid batch still in the payout file:\n%s", data)
		}
		db.must(ExitOK, nil, "verify")
	})
}

func TestSettleMarkPaidReturnFile(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		for _, m := range []string{"mch_a", "mch_b", "mch_c"} {
			db.merchant(m, paygw.FeePlan{RateBps: 50})
			db.pay("pay_"+m, m, 20000, cliAt(settleDay, 10))
		}
		db.must(ExitOK, nil, "settle", "--date", settleDay, "--out", db.out)
		bs := db.batches(settleDay)
		if len(bs) != 3 {
			t.Fatalf("%d batches", len(bs))
		}
		dir := t.TempDir()
		bad := filepath.Join(dir, "bad.csv")
		os.WriteFile(bad, []byte("batch_id,bank_ref,status\n"+bs[0].ID+",R1,paid\n"+bs[1].ID+",R2,lost\n"), 0o600)
		code, _, errOut := db.run(nil, "settle", "mark-paid", "--file", bad)
		if code != ExitUsage || !strings.Contains(errOut, "bad.csv:3: status") {
			t.Errorf("bad return file: exit %d, stderr %q; want 2 naming bad.csv:3: status", code, errOut)
		}
		if b, _ := db.s.GetSettleBatch(db.ctx, bs[0].ID); b.Status != settle.StatusSettled {
			t.Errorf("a bad file applied line 2: %+v", b)
		}

		// BOM, columns in another order, a paid, a failed and an unknown batch.
		good := filepath.Join(dir, "returns.csv")
		os.WriteFile(good, []byte("\ufeffstatus,batch_id,bank_ref\nSUCCESS,"+bs[0].ID+",R1\nreturned,"+bs[1].ID+",\npaid,stb_nope,R9\n"), 0o600)
		code, out, errOut := db.run(nil, "settle", "mark-paid", "--file", good, "--json")
		if code != ExitUsage || !strings.Contains(errOut, good+":4:") || !strings.Contains(errOut, "stb_nope") {
			t.Errorf("return file with an unknown batch: exit %d, stderr %q; want 2 naming line 4", code, errOut)
		}
		want := `{"paid":["` + bs[0].ID + `"],"unchanged":[],"failed":["` + bs[1].ID + `"]}`
		if strings.TrimSpace(out) != want {
			t.Errorf("return file --json:\n got %s\nwant %s", out, want)
		}
		for i, st := range []paygw.SettleStatus{settle.StatusPaid, settle.StatusSettled, settle.StatusSettled} {
			if b, _ := db.s.GetSettleBatch(db.ctx, bs[i].ID); b.Status != st {
				t.Errorf("batch %d is %s, want %s", i, b.Status, st)
			}
		}
		// The same file again: already paid, nothing posted twice.
		_, out, _ = db.run(nil, "settle", "mark-paid", "--file", good, "--json")
		if want := `{"paid":[],"unchanged":["` + bs[0].ID + `"],"failed":["` + bs[1].ID + `"]}`; strings.TrimSpace(out) != want {
			t.Errorf("return file again: %s", out)
		}
		db.must(ExitOK, nil, "verify")
	})
}
