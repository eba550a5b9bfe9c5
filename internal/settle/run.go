package settle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/report"
	"github.com/paygw/paygw/internal/store"
)

// DefaultWorkers is how many merchants a run settles at once by default.
const DefaultWorkers = 8

// ErrUnknownMerchant is returned by Run for a --merchant that does not exist.
var ErrUnknownMerchant = errors.New("unknown merchant")

// Options select and shape one settlement run.
type Options struct {
	Date              string // the business date closed, YYYY-MM-DD
	Merchant          string // settle only this merchant ("" = all in the shard)
	Shard, Shards     int    // settle merchants with Shard(id, Shards) == Shard; Shards <= 1 is all
	DryRun            bool   // compute and report, write nothing
	RequireReconciled bool   // settle only items with reconciled_at set
	OutDir            string // where the payout file and report go; "" writes no files
	Now               func() time.Time
	Log               zerolog.Logger
	// Progress, when set, is called after each merchant with the number done and the total
	// (one call at a time).
	Progress func(done, total int)
	// Workers is how many merchants are settled at once (default DefaultWorkers).
	Workers int
}

// Validate checks the options.
func (o *Options) Validate() error {
	if _, err := paygw.ParseDate(o.Date); err != nil {
		return fmt.Errorf("date: %w", err)
	}
	if o.Shards < 0 || o.Shard < 0 || (o.Shards > 1 && o.Shard >= o.Shards) || (o.Shards <= 1 && o.Shard > 0) {
		return fmt.Errorf("shard %d of %d: want 0 <= shard < shards", o.Shard, o.Shards)
	}
	return nil
}

// Suffix names the run's scope in file names: "", "_shard-1-of-4" or "_merchant-mch_…".
func (o *Options) Suffix() string {
	switch {
	case o.Merchant != "":
		return "_merchant-" + o.Merchant
	case o.Shards > 1:
		return fmt.Sprintf("_shard-%d-of-%d", o.Shard, o.Shards)
	}
	return ""
}

// View is a batch as a run reports it.
type View struct {
	store.SettleBatch
	MerchantName string
	New          bool // written (or, in a dry run, computed) by this run
}

// Outcome is what a run did.
type Outcome struct {
	Date       string
	Batches    []View // every batch of the date in the run's scope, by merchant and currency
	Created    int    // batches this run wrote (or would write, in a dry run)
	Deferred   int    // refunds left for a later batch because their payment is not settled
	Skipped    int    // merchants already settled on a later date
	PayoutFile string // "" when none was written
	ReportFile string
}

// Run settles opts.Date for the merchants in scope. Each merchant is written atomically: its
// batches (one per currency), their items and settlement journals in one transaction. A
// merchant that already has a batch on the date is left as it is and its batches are reported,
// so a re-run, or a run after a killed one, ends in the same state as one clean run. Races with
// another run are decided by the store's unique keys; the loser re-reads and reports.
func Run(ctx context.Context, s *store.Store, opts Options) (Outcome, error) {
	if err := opts.Validate(); err != nil {
		return Outcome{}, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	all, err := s.SettleMerchants(ctx)
	if err != nil {
		return Outcome{}, err
	}
	var ms []store.SettleMerchant
	for _, m := range all {
		if (opts.Merchant == "" || m.ID == opts.Merchant) && (opts.Shards <= 1 || Shard(m.ID, opts.Shards) == opts.Shard) {
			ms = append(ms, m)
		}
	}
	if opts.Merchant != "" && len(ms) == 0 {
		return Outcome{}, fmt.Errorf("%w %q (or not in shard %d of %d)", ErrUnknownMerchant, opts.Merchant, opts.Shard, opts.Shards)
	}
	out := Outcome{Date: opts.Date}
	workers := opts.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	// Merchants are independent: a few at a time overlap one merchant's reads with another's
	// commit (on SQLite the store's group commit then shares one fsync between them).
	var (
		mu   sync.Mutex
		next int
		done int
		ferr error
		wg   sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(workers, len(ms)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == len(ms) || ferr != nil {
					mu.Unlock()
					return
				}
				m := ms[next]
				next++
				mu.Unlock()
				views, deferred, skipped, err := settleWithRetry(ctx, s, m, opts)
				mu.Lock()
				if err != nil {
					if ferr == nil {
						ferr = fmt.Errorf("merchant %s: %w", m.ID, err)
						cancel()
					}
					mu.Unlock()
					return
				}
				out.Deferred += deferred
				if skipped {
					out.Skipped++
				}
				for _, v := range views {
					if v.New {
						out.Created++
					}
				}
				out.Batches = append(out.Batches, views...)
				done++
				if opts.Progress != nil {
					opts.Progress(done, len(ms))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ferr != nil {
		return out, ferr
	}
	slices.SortFunc(out.Batches, func(a, b View) int {
		return cmp.Or(cmp.Compare(a.MerchantID, b.MerchantID), cmp.Compare(a.Currency, b.Currency))
	})
	if opts.DryRun || opts.OutDir == "" {
		return out, nil
	}
	base := opts.Date + opts.Suffix()
	out.PayoutFile = filepath.Join(opts.OutDir, "payout_"+base+".csv")
	if err := WritePayoutFile(ctx, s, out.PayoutFile, out.Batches); err != nil {
		return out, err
	}
	out.ReportFile = filepath.Join(opts.OutDir, "settlement_"+base+".xlsx")
	if err := WriteReport(ctx, s, out.ReportFile, opts.Date, opts.Now(), out.Batches); err != nil {
		return out, err
	}
	return out, nil
}

// settleWithRetry settles one merchant, re-reading its state when another run won a race.
func settleWithRetry(ctx context.Context, s *store.Store, m store.SettleMerchant, opts Options) (views []View, deferred int, skipped bool, err error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, 0, false, err
		}
		views, deferred, skipped, err = settleMerchant(ctx, s, m, opts)
		if !errors.Is(err, store.ErrBatchRace) || attempt == 3 {
			return views, deferred, skipped, err
		}
		opts.Log.Info().Str("merchant_id", m.ID).Msg("another run settled this merchant first; re-reading")
	}
}

// settleMerchant settles one merchant, or returns its existing batches of the date.
func settleMerchant(ctx context.Context, s *store.Store, m store.SettleMerchant, opts Options) (views []View, deferred int, skipped bool, err error) {
	onDate, latest, err := s.MerchantBatchState(ctx, m.ID, opts.Date)
	if err != nil {
		return nil, 0, false, err
	}
	if len(onDate) > 0 {
		for _, b := range onDate {
			views = append(views, View{SettleBatch: b, MerchantName: m.Name})
		}
		return views, 0, false, nil
	}
	for _, l := range latest {
		if l.Date > opts.Date {
			// Its items up to the date went into that later batch; a batch dated earlier would
			// break the carry-forward chain.
			opts.Log.Warn().Str("merchant_id", m.ID).Str("settled_through", l.Date).Msg("merchant already settled on a later date; skipped")
			return nil, 0, true, nil
		}
	}
	ps, rs, err := s.Unsettled(ctx, m.ID, opts.Date, opts.RequireReconciled)
	if err != nil {
		return nil, 0, false, err
	}
	if len(ps) == 0 && len(rs) == 0 {
		return nil, 0, false, nil
	}
	carried := map[money.Currency]int64{}
	for c, l := range latest {
		carried[money.Currency(c)] = CarryOut(l.Net)
	}
	plan := paygw.FeePlan{RateBps: m.FeeRateBps, Fixed: m.FeeFixed, Min: m.MinFee(), Max: m.MaxFee()}
	res, err := Compute(plan, carried, toPayments(ps), toRefunds(rs))
	if err != nil {
		return nil, 0, false, err
	}
	now := store.Now(opts.Now())
	type write struct {
		b     store.SettleBatch
		items []store.SettleItem
	}
	writes := make([]write, 0, len(res.Batches))
	for _, b := range res.Batches {
		sb := store.SettleBatch{
			ID: paygw.NewID("stb"), MerchantID: m.ID, Currency: string(b.Currency), Date: opts.Date,
			PrevBatchID: latest[string(b.Currency)].ID,
			Payments:    b.Payments, Refunds: b.Refunds, Gross: b.Gross, Refunded: b.Refunded, Fee: b.Fee,
			CarriedIn: b.CarriedIn, Net: b.Net, Status: b.Status, CreatedAt: now, UpdatedAt: now,
		}
		items := make([]store.SettleItem, len(b.Items))
		for i, it := range b.Items {
			items[i] = store.SettleItem{ObjectID: it.ID, BatchID: sb.ID, Kind: it.Kind, PaymentID: it.PaymentID,
				OutNo: it.OutNo, BusinessDate: it.BusinessDate, Amount: it.Amount, Fee: it.Fee}
		}
		writes = append(writes, write{sb, items})
		views = append(views, View{SettleBatch: sb, MerchantName: m.Name, New: true})
	}
	if opts.DryRun {
		return views, len(res.Deferred), false, nil
	}
	err = s.Transact(ctx, func(tx *store.Tx) error {
		for _, w := range writes {
			if err := tx.InsertSettleBatch(ctx, w.b, w.items); err != nil {
				return err
			}
			j, err := ledger.Settlement(w.b.ID, m.ID, money.Currency(w.b.Currency), w.b.Gross, w.b.Refunded, w.b.Fee)
			if err != nil {
				return err
			}
			if len(j.Postings) == 0 {
				continue // refunds that exactly undo payments in the same batch move nothing
			}
			if err := tx.PostJournal(ctx, j, now); err != nil {
				if store.IsUnique(err) {
					return fmt.Errorf("%w: %w", store.ErrBatchRace, err)
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, false, err
	}
	for _, v := range views {
		opts.Log.Info().Str("merchant_id", m.ID).Str("batch_id", v.ID).Str("currency", v.Currency).
			Int64("payments", v.Payments).Int64("refunds", v.Refunds).Int64("net", v.Net).Str("status", v.Status).Msg("batch settled")
	}
	return views, len(res.Deferred), false, nil
}

func toPayments(ps []store.UnsettledPayment) []Payment {
	out := make([]Payment, len(ps))
	for i, p := range ps {
		out[i] = Payment{ID: p.ID, OutNo: p.OutTradeNo, Currency: money.Currency(p.Currency), Amount: p.Amount,
			BusinessDate: p.BusinessDate, PaidAt: p.PaidAt}
	}
	return out
}

func toRefunds(rs []store.UnsettledRefund) []Refund {
	out := make([]Refund, len(rs))
	for i, r := range rs {
		out[i] = Refund{ID: r.ID, PaymentID: r.PaymentID, OutNo: r.OutRefundNo, Currency: money.Currency(r.Currency),
			Amount: r.Amount, BusinessDate: r.BusinessDate, SucceededAt: r.SucceededAt, PaymentAmount: r.PaymentAmount,
			RefundedBefore: r.RefundedBefore, ReturnedBefore: r.ReturnedBefore}
		if r.PaymentFee.Valid {
			f := r.PaymentFee.Int64
			out[i].PaymentFee = &f
		}
	}
	return out
}

// WriteReport writes the settlement report of date for batches (a run's scope), streaming the
// detail from the database.
func WriteReport(ctx context.Context, s *store.Store, path, date string, now time.Time, batches []View) error {
	d, err := paygw.ParseDate(date)
	if err != nil {
		return err
	}
	rs := report.Settlement{Date: d, GeneratedAt: now.UTC()}
	for _, b := range batches {
		rs.Batches = append(rs.Batches, report.SettlementBatch{
			MerchantID: b.MerchantID, MerchantName: b.MerchantName, Currency: money.Currency(b.Currency), BatchID: b.ID,
			Payments: b.Payments, Refunds: b.Refunds, Gross: b.Gross, Refunded: b.Refunded, Fee: b.Fee,
			CarriedIn: b.CarriedIn, Net: b.Net, Status: b.Status,
		})
	}
	// The detail follows the Batches sheet's order (currency, merchant), batch by batch.
	order := slices.Clone(batches)
	slices.SortFunc(order, func(a, b View) int {
		return cmp.Or(cmp.Compare(a.Currency, b.Currency), cmp.Compare(a.MerchantID, b.MerchantID))
	})
	ids := make([]string, len(order))
	for i, b := range order {
		ids[i] = b.ID
	}
	items := func(yield func(report.SettlementItem) error) error {
		dates := map[string]time.Time{} // business dates repeat; parse each once
		return s.EachSettleItem(ctx, ids, func(r store.SettleItemRow) error {
			bd, ok := dates[r.BusinessDate]
			if !ok {
				t, err := paygw.ParseDate(r.BusinessDate)
				if err != nil {
					return fmt.Errorf("item %s: %w", r.ObjectID, err)
				}
				bd, dates[r.BusinessDate] = t, t
			}
			return yield(report.SettlementItem{BatchID: r.BatchID, MerchantID: r.MerchantID, Kind: report.Kind(r.Kind),
				ID: r.ObjectID, OutNo: r.OutNo, BusinessDate: bd, Amount: r.Amount, Fee: r.Fee, Currency: money.Currency(r.Currency)})
		})
	}
	return report.WriteSettlement(path, rs, items)
}
