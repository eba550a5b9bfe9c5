package settle_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/report"
	"github.com/paygw/paygw/internal/settle"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

var update = flag.Bool("update", false, "rewrite golden files")

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

// fixture drives payments and refunds through the store's online entry points (the shared
// storetest.Fixture), so journals and statuses are what production writes.
type fixture struct {
	t   testing.TB
	s   *store.Store
	ctx context.Context
	f   *storetest.Fixture
}

func newFixture(t testing.TB, s *store.Store) *fixture {
	return &fixture{t: t, s: s, ctx: context.Background(), f: storetest.NewFixture(t, s, shanghai)}
}

// merchant creates a merchant with a fixed id.
func (f *fixture) merchant(id string, plan paygw.FeePlan) {
	f.t.Helper()
	f.f.Merchant(storetest.MerchantOptions{ID: id, Plan: plan, AccountNo: "62220200" + fmt.Sprintf("%011d", len(id)*7919)})
}

// pay creates a payment and makes it succeed at paidAt (dup applies the outcome twice, as a
// duplicate callback would).
func (f *fixture) pay(id, merchant, cur string, amount int64, paidAt time.Time, dup bool) {
	f.t.Helper()
	f.f.Pay(storetest.Payment{ID: id, MerchantID: merchant, Currency: cur, Amount: amount, PaidAt: paidAt, Duplicate: dup})
}

// refund creates a refund of payment and finishes it at at (succeeded or failed).
func (f *fixture) refund(id, payment string, amount int64, at time.Time, ok bool) error {
	return f.f.Refund(storetest.Refund{ID: id, PaymentID: payment, Amount: amount, At: at, Failed: !ok})
}

func (f *fixture) reconcile(ids ...string) {
	f.t.Helper()
	if err := f.s.MarkReconciled(f.ctx, ids, time.Now()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) settle(date string, mod func(*settle.Options)) settle.Outcome {
	f.t.Helper()
	o := settle.Options{Date: date, RequireReconciled: true, Log: zerolog.Nop(),
		Now: func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }}
	if mod != nil {
		mod(&o)
	}
	res, err := settle.Run(f.ctx, f.s, o)
	if err != nil {
		f.t.Fatalf("settle %s: %v", date, err)
	}
	return res
}

func (f *fixture) verify() {
	f.t.Helper()
	ps, err := f.s.LedgerCheck(f.ctx, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range ps {
		f.t.Errorf("ledger check %s: %s: %s", p.Check, p.Ref, p.Detail)
	}
}

// at returns an instant of business date d (Asia/Shanghai) at hh:mm.
func at(d string, hh, mm int) time.Time {
	t, _ := time.ParseInLocation("2006-01-02", d, shanghai)
	return t.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
}

// batchKey is the content of a batch, without its random id.
type batchKey struct {
	Merchant, Currency, Date, Status                      string
	Payments, Refunds, Gross, Refunded, Fee, Carried, Net int64
}

func keys(vs []settle.View) []batchKey {
	out := make([]batchKey, 0, len(vs))
	for _, v := range vs {
		out = append(out, batchKey{v.MerchantID, v.Currency, v.Date, string(v.Status), v.Payments, v.Refunds, v.Gross, v.Refunded, v.Fee, v.CarriedIn, v.Net})
	}
	return out
}

func TestRunSettlesOnceWithFilesAndLedger(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		f.merchant("mch_a", paygw.FeePlan{RateBps: 60})
		f.merchant("mch_b", paygw.FeePlan{RateBps: 100, Fixed: 10, Min: ptr(50)})
		d := "2026-11-22"
		f.pay("pay_a1", "mch_a", "CNY", 10000, at(d, 9, 0), true)
		f.pay("pay_a2", "mch_a", "CNY", 2550, at(d, 23, 59), false)
		f.pay("pay_a3", "mch_a", "USD", 999, at(d, 12, 0), false)
		f.pay("pay_a4", "mch_a", "CNY", 777, at(d, 13, 0), false) // not reconciled: waits
		f.pay("pay_b1", "mch_b", "CNY", 300, at(d, 10, 0), false)
		f.pay("pay_b2", "mch_b", "CNY", 500, at("2026-11-23", 0, 1), false) // next business date
		if err := f.refund("ref_a1", "pay_a1", 2500, at(d, 15, 0), true); err != nil {
			t.Fatal(err)
		}
		if err := f.refund("ref_b1", "pay_b1", 300, at(d, 16, 0), true); err != nil {
			t.Fatal(err)
		}
		f.reconcile("pay_a1", "pay_a2", "pay_a3", "pay_b1", "pay_b2", "ref_a1", "ref_b1")

		out := t.TempDir()
		res := f.settle(d, func(o *settle.Options) { o.OutDir = out })
		want := []batchKey{
			{"mch_a", "CNY", d, "settled", 2, 1, 12550, 2500, 60 + 15 - 15, 0, 12550 - 2500 - 60},
			{"mch_a", "USD", d, "settled", 1, 0, 999, 0, 6, 0, 993},
			{"mch_b", "CNY", d, "carried", 1, 1, 300, 300, 0, 0, 0},
		}
		// mch_a CNY: fees 60 (10000) + 15 (2550 × 0.6% = 15.3) − 15 returned (2500/10000 of 60).
		if diff := cmpKeys(want, keys(res.Batches)); diff != "" {
			t.Fatal(diff)
		}
		if res.Created != 3 {
			t.Errorf("created %d", res.Created)
		}
		f.verify()

		// The payout file: settled batches only, full account number, 0600.
		st, err := os.Stat(res.PayoutFile)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("payout file mode %v, want 0600", st.Mode().Perm())
		}
		payout, _ := os.ReadFile(res.PayoutFile)
		checkGolden(t, "payout.golden", normalizeIDs(string(payout)))
		dump, err := report.Dump(res.ReportFile)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, "settlement_report.golden", normalizeIDs(dump))

		// Again: nothing changes, the same batches are printed.
		again := f.settle(d, func(o *settle.Options) { o.OutDir = out })
		if again.Created != 0 || cmpKeys(keys(res.Batches), keys(again.Batches)) != "" {
			t.Fatalf("re-run changed something: %+v", again)
		}
		for i := range res.Batches {
			if res.Batches[i].ID != again.Batches[i].ID {
				t.Errorf("re-run reports batch %s, first run %s", again.Batches[i].ID, res.Batches[i].ID)
			}
		}

		// The next day sweeps the late-reconciled payment and the next date's one; the carried
		// zero net of mch_b carries nothing.
		f.reconcile("pay_a4")
		next := f.settle("2026-11-23", nil)
		want = []batchKey{
			{"mch_a", "CNY", "2026-11-23", "settled", 1, 0, 777, 0, 5, 0, 772},
			{"mch_b", "CNY", "2026-11-23", "settled", 1, 0, 500, 0, 50, 0, 450},
		}
		if diff := cmpKeys(want, keys(next.Batches)); diff != "" {
			t.Fatal(diff)
		}
		f.verify()

		// An earlier date after a later one is refused for that merchant (its chain has moved on).
		if early := f.settle("2026-11-21", nil); len(early.Batches) != 0 || early.Skipped != 2 {
			t.Errorf("settling an earlier date: %+v", early)
		}
	})
}

func ptr(v int64) *int64 { return &v }

func cmpKeys(want, got []batchKey) string {
	if slices.Equal(want, got) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "batches differ\nwant:\n")
	for _, k := range want {
		fmt.Fprintf(&b, "  %+v\n", k)
	}
	b.WriteString("got:\n")
	for _, k := range got {
		fmt.Fprintf(&b, "  %+v\n", k)
	}
	return b.String()
}

var idRe = regexp.MustCompile(`stb_[0-9A-HJKMNP-TV-Z]{26}`)

// normalizeIDs replaces random batch ids by stb_1, stb_2, … in order of first appearance.
func normalizeIDs(s string) string {
	seen := map[string]string{}
	return idRe.ReplaceAllStringFunc(s, func(id string) string {
		if n, ok := seen[id]; ok {
			return n
		}
		seen[id] = fmt.Sprintf("stb_%d", len(seen)+1)
		return seen[id]
	})
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s", name, got)
	}
}

func TestRunRefundOfEarlierDayUsesRecordedFee(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		f.merchant("mch_a", paygw.FeePlan{RateBps: 60, Fixed: 5})
		f.pay("pay_1", "mch_a", "CNY", 10000, at("2026-11-20", 10, 0), false)
		f.reconcile("pay_1")
		d1 := f.settle("2026-11-20", nil) // fee 65 recorded

		// The plan changes; refunds on two later days still use the recorded 65.
		if _, err := s.DB().ExecContext(f.ctx, s.Rebind(`UPDATE merchants SET fee_rate_bps = 500 WHERE id = ?`), "mch_a"); err != nil {
			t.Fatal(err)
		}
		if err := f.refund("ref_1", "pay_1", 3333, at("2026-11-21", 10, 0), true); err != nil {
			t.Fatal(err)
		}
		f.reconcile("ref_1")
		d2 := f.settle("2026-11-21", nil)
		if d2.Batches[0].Fee != -22 || d2.Batches[0].Net != -3333+22 || d2.Batches[0].Status != settle.StatusCarried {
			t.Fatalf("day 2: %+v", d2.Batches[0]) // round(65 × 3333/10000 = 21.66) = 22
		}
		if err := f.refund("ref_2", "pay_1", 6667, at("2026-11-22", 10, 0), true); err != nil {
			t.Fatal(err)
		}
		f.pay("pay_2", "mch_a", "CNY", 20000, at("2026-11-22", 11, 0), false)
		f.reconcile("ref_2", "pay_2")
		d3 := f.settle("2026-11-22", nil)
		b := d3.Batches[0]
		// returns 65 − 22 = 43; pay_2 fee 5% + 5 = 1005; carried in −3311.
		if b.Fee != 1005-43 || b.CarriedIn != -3311 || b.Net != 20000-6667-(1005-43)-3311 {
			t.Fatalf("day 3: %+v", b)
		}
		f.verify()
		// The ledger agrees: merchant payable owes the unpaid day 1 and day 3's net (the carry netted).
		bal := balances(t, s)
		if got := bal[ledger.MerchantPayable("mch_a")+" CNY"]; got != -(d1.Batches[0].Net + b.Net) {
			t.Errorf("merchant payable %d, want %d", got, -(d1.Batches[0].Net + b.Net))
		}
	})
}

func balances(t testing.TB, s *store.Store) map[string]int64 {
	bs, err := s.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, b := range bs {
		out[b.Account+" "+b.Currency] = b.Balance
	}
	return out
}

func TestMarkPaid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		f.merchant("mch_a", paygw.FeePlan{RateBps: 60})
		f.merchant("mch_b", paygw.FeePlan{})
		f.pay("pay_1", "mch_a", "CNY", 10000, at("2026-11-22", 10, 0), false)
		f.pay("pay_2", "mch_b", "CNY", 100, at("2026-11-22", 10, 0), false)
		if err := f.refund("ref_2", "pay_2", 100, at("2026-11-22", 11, 0), true); err != nil {
			t.Fatal(err)
		}
		f.reconcile("pay_1", "pay_2", "ref_2")
		res := f.settle("2026-11-22", nil)
		paid, carried := res.Batches[0], res.Batches[1]
		now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
		b, changed, err := settle.MarkPaid(f.ctx, s, paid.ID, "BANK-1", now)
		if err != nil || !changed || b.Status != settle.StatusPaid || b.BankRef != "BANK-1" {
			t.Fatalf("mark paid: %+v %v %v", b, changed, err)
		}
		if _, changed, err := settle.MarkPaid(f.ctx, s, paid.ID, "BANK-1", now); err != nil || changed {
			t.Fatalf("again with the same ref: changed %v err %v", changed, err)
		}
		if _, _, err := settle.MarkPaid(f.ctx, s, paid.ID, "BANK-2", now); !errors.Is(err, settle.ErrPaidOther) {
			t.Fatalf("another ref: %v", err)
		}
		if _, _, err := settle.MarkPaid(f.ctx, s, carried.ID, "BANK-3", now); !errors.Is(err, settle.ErrNothingToPay) {
			t.Fatalf("carried batch: %v", err)
		}
		if _, _, err := settle.MarkPaid(f.ctx, s, "stb_nope", "BANK-4", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown batch: %v", err)
		}
		f.verify()
		bal := balances(t, s)
		if bal[ledger.MerchantPayable("mch_a")+" CNY"] != 0 || bal[ledger.PlatformCash+" CNY"] != -9940 {
			t.Errorf("balances after payout: %v", bal)
		}
		// A paid batch is not in a re-written payout file.
		out := t.TempDir()
		again := f.settle("2026-11-22", func(o *settle.Options) { o.OutDir = out })
		data, _ := os.ReadFile(again.PayoutFile)
		if strings.Contains(string(data), paid.ID) {
			t.Errorf("paid batch in the payout file:\n%s", data)
		}
	})
}

// TestConcurrentRuns starts three runs of the same date at once, each with its own store
// handle and no lease: the unique keys alone leave exactly one batch per merchant.
func TestConcurrentRuns(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsn)
			f := newFixture(t, s)
			var ids []string
			for m := range 6 {
				mid := fmt.Sprintf("mch_%d", m)
				f.merchant(mid, paygw.FeePlan{RateBps: 30})
				for p := range 5 {
					id := fmt.Sprintf("pay_%d_%d", m, p)
					f.pay(id, mid, "CNY", int64(1000+p), at("2026-11-22", 10, p), false)
					ids = append(ids, id)
				}
			}
			f.reconcile(ids...)
			var wg sync.WaitGroup
			errs := make([]error, 3)
			for i := range 3 {
				h := storetest.OpenDSN(t, dsn)
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = settle.Run(context.Background(), h, settle.Options{Date: "2026-11-22", RequireReconciled: true, Log: zerolog.Nop()})
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			bs, err := s.SettleBatchesOn(f.ctx, "2026-11-22")
			if err != nil {
				t.Fatal(err)
			}
			if len(bs) != 6 {
				t.Fatalf("%d batches, want 6", len(bs))
			}
			f.verify()
		})
	}
}

// TestKilledRunResumes stops a run part way (a cancelled context after some merchants) and
// runs it again: the batches equal those of one clean run on the same data.
func TestKilledRunResumes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		seed := func(s *store.Store) *fixture {
			f := newFixture(t, s)
			var ids []string
			for m := range 5 {
				mid := fmt.Sprintf("mch_%d", m)
				f.merchant(mid, paygw.FeePlan{RateBps: 45, Fixed: 1})
				for p := range 4 {
					id := fmt.Sprintf("pay_%d_%d", m, p)
					f.pay(id, mid, "CNY", int64(500*(p+1)+m), at("2026-11-22", 8, p), false)
					ids = append(ids, id)
				}
			}
			f.reconcile(ids...)
			return f
		}
		clean := seed(storetest.Open(t, s.Dialect())).settle("2026-11-22", nil)

		f := seed(s)
		ctx, cancel := context.WithCancel(context.Background())
		_, err := settle.Run(ctx, s, settle.Options{Date: "2026-11-22", RequireReconciled: true, Log: zerolog.Nop(), Workers: 1,
			Progress: func(done, _ int) {
				if done == 2 {
					cancel()
				}
			}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("killed run: %v", err)
		}
		part, _ := s.SettleBatchesOn(f.ctx, "2026-11-22")
		if len(part) != 2 {
			t.Fatalf("killed after 2 merchants left %d batches", len(part))
		}
		resumed := f.settle("2026-11-22", nil)
		if diff := cmpKeys(keys(clean.Batches), keys(resumed.Batches)); diff != "" {
			t.Fatal(diff)
		}
		f.verify()
	})
}

func TestShardsPartitionMerchants(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	f := newFixture(t, s)
	var ids []string
	for m := range 12 {
		mid := fmt.Sprintf("mch_%02d", m)
		f.merchant(mid, paygw.FeePlan{RateBps: 10})
		id := "pay_" + mid
		f.pay(id, mid, "CNY", 1000, at("2026-11-22", 9, 0), false)
		ids = append(ids, id)
	}
	f.reconcile(ids...)
	seen := map[string]int{}
	for i := range 3 {
		res := f.settle("2026-11-22", func(o *settle.Options) { o.Shard, o.Shards = i, 3 })
		for _, b := range res.Batches {
			seen[b.MerchantID]++
			if settle.Shard(b.MerchantID, 3) != i {
				t.Errorf("shard %d settled %s of shard %d", i, b.MerchantID, settle.Shard(b.MerchantID, 3))
			}
		}
	}
	if len(seen) != 12 {
		t.Errorf("shards settled %d merchants, want 12", len(seen))
	}
	for m, n := range seen {
		if n != 1 {
			t.Errorf("%s settled %d times", m, n)
		}
	}
	if _, err := settle.Run(f.ctx, s, settle.Options{Date: "2026-11-22", Merchant: "mch_nope", Log: zerolog.Nop()}); !errors.Is(err, settle.ErrUnknownMerchant) {
		t.Errorf("unknown merchant: %v", err)
	}
	dry := f.settle("2026-11-23", func(o *settle.Options) { o.DryRun = true })
	if len(dry.Batches) != 0 {
		t.Errorf("dry run of an empty day: %+v", dry)
	}
}

// TestRandomizedDays drives three days of payments (some with duplicate callbacks), refunds
// (partial, full, failed, of earlier days' payments) and late reconciliation, settling each
// day; after each day the ledger check passes, and at the end every reconciled item is settled
// exactly once and every fully refunded payment has returned exactly its recorded fee.
func TestRandomizedDays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		rng := rand.New(rand.NewPCG(20261122, 7))
		f := newFixture(t, s)
		ms := []string{"mch_a", "mch_b", "mch_c"}
		plans := []paygw.FeePlan{{RateBps: 60}, {RateBps: 38, Fixed: 3, Min: ptr(10)}, {RateBps: 120, Max: ptr(200)}}
		for i, m := range ms {
			f.merchant(m, plans[i])
		}
		type pay struct {
			id, cur  string
			amount   int64
			refunded int64
		}
		var pays []*pay
		var unreconciled []string
		n := 0
		days := []string{"2026-11-20", "2026-11-21", "2026-11-22"}
		for _, d := range days {
			// Yesterday's stragglers are reconciled today (cross-day items).
			f.reconcile(unreconciled...)
			unreconciled = nil
			for range 25 {
				n++
				id := fmt.Sprintf("pay_%03d", n)
				cur := []string{"CNY", "CNY", "USD"}[rng.IntN(3)]
				p := &pay{id: id, cur: cur, amount: 1 + rng.Int64N(50000)}
				// Some succeed a minute before or after midnight: the neighbouring business date.
				when := at(d, rng.IntN(24), rng.IntN(60))
				f.pay(id, ms[rng.IntN(len(ms))], cur, p.amount, when, rng.IntN(3) == 0)
				pays = append(pays, p)
				if rng.IntN(5) == 0 {
					unreconciled = append(unreconciled, id)
				} else {
					f.reconcile(id)
				}
			}
			for range 12 {
				p := pays[rng.IntN(len(pays))]
				left := p.amount - p.refunded
				if left == 0 {
					continue
				}
				amt := left
				if rng.IntN(2) == 0 {
					amt = 1 + rng.Int64N(left)
				}
				n++
				id := fmt.Sprintf("ref_%03d", n)
				ok := rng.IntN(6) != 0
				if err := f.refund(id, p.id, amt, at(d, 23, rng.IntN(60)), ok); err != nil {
					if errors.Is(err, store.ErrPaymentNotRefundable) {
						continue
					}
					t.Fatal(err)
				}
				if ok {
					p.refunded += amt
					f.reconcile(id)
				}
			}
			f.settle(d, func(o *settle.Options) { o.Shards, o.Shard = 1, 0 })
			f.settle(d, nil) // a second run changes nothing
			f.verify()
		}
		// Close a later day for everything left (all reconciled now).
		f.reconcile(unreconciled...)
		f.settle("2026-11-25", nil)
		f.verify()

		type item struct {
			kind, payment string
			amount, fee   int64
		}
		items := map[string]item{}
		for _, d := range append(days, "2026-11-25") {
			bs, err := s.SettleBatchesOn(f.ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, b := range bs {
				ids = append(ids, b.ID)
			}
			err = s.EachSettleItem(f.ctx, ids, func(r store.SettleItemRow) error {
				if _, dup := items[r.ObjectID]; dup {
					t.Errorf("%s settled twice", r.ObjectID)
				}
				items[r.ObjectID] = item{string(r.Kind), r.PaymentID, r.Amount, r.Fee}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		returned := map[string]int64{}
		for _, it := range items {
			if it.kind == "refund" {
				returned[it.payment] += it.fee
			}
		}
		settledPays := 0
		for _, p := range pays {
			it, ok := items[p.id]
			if !ok {
				t.Errorf("payment %s never settled", p.id)
				continue
			}
			settledPays++
			if p.refunded == p.amount && returned[p.id] != it.fee {
				t.Errorf("payment %s fully refunded: returned %d of fee %d", p.id, returned[p.id], it.fee)
			}
			if returned[p.id] > it.fee {
				t.Errorf("payment %s: returned %d exceeds fee %d", p.id, returned[p.id], it.fee)
			}
		}
		if settledPays != len(pays) {
			t.Errorf("%d of %d payments settled", settledPays, len(pays))
		}
		var ks []string
		for k := range items {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		t.Logf("%d items settled over %d days", len(ks), len(days)+1)
	})
}
