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

// DefaultWorkers is how many merchants a run settles at once by default on PostgreSQL.
const DefaultWorkers = 8

// DefaultSQLiteWorkers is the default on SQLite: its reads run in this process, and each
// reading connection fills its own page cache (32 MiB), so more workers buy little time and
// much memory (1M payments: 4 workers peak at ~355 MiB, 8 at up to ~490 MiB, ~5% faster).
const DefaultSQLiteWorkers = 4

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
	// Workers is how many merchants are settled at once (default DefaultWorkers, or
	// DefaultSQLiteWorkers on SQLite).
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
	paygw.SettleBatch
	MerchantName string
	New          bool   // written (or, in a dry run, computed) by this run
	HoldReason   string // why the batch is on hold ("" when it is not)
}

// Shown is the batch's status as reports show it: StatusOnHold for a settled batch on hold.
func (v View) Shown() string {
	if v.HoldReason != "" && v.Status == StatusSettled {
		return StatusOnHold
	}
	return string(v.Status)
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
	// OnHold lists the batches in scope, of any date, kept out of payout files because their
	// merchant cannot be paid (no bank account, suspended).
	OnHold []Held
	// Released lists the batches whose hold was lifted that this date's payout file carries.
	Released []View
	// HeldBack is what settlement left out up to the date, and why.
	HeldBack []HeldBackItem

	planned map[string]bool // a dry run's items, still pending
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
	inScope := opts.inScope
	var ms []store.SettleMerchant
	byID := make(map[string]store.SettleMerchant, len(all))
	for _, m := range all {
		byID[m.ID] = m
		if inScope(m.ID) {
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
		if s.Dialect() == store.SQLite {
			workers = DefaultSQLiteWorkers
		}
	}
	if err := runEach(ctx, s, ms, opts, workers, &out); err != nil {
		return out, err
	}
	slices.SortFunc(out.Batches, func(a, b View) int {
		return cmp.Or(cmp.Compare(a.MerchantID, b.MerchantID), cmp.Compare(a.Currency, b.Currency))
	})
	// A merchant that cannot be paid holds back its own batches, never the run.
	pp := payoutPlan{s: s, date: opts.Date, ms: byID, inScope: inScope, hold: !opts.DryRun,
		claim: !opts.DryRun && opts.OutDir != "", now: opts.Now(), log: opts.Log}
	if err := pp.run(ctx, out.Batches); err != nil {
		return out, err
	}
	pp.warn()
	out.OnHold, out.Released = pp.held, pp.released
	if out.HeldBack, err = heldBack(ctx, s, opts, byID, inScope, out.planned); err != nil {
		return out, err
	}
	if opts.DryRun || opts.OutDir == "" {
		return out, nil
	}
	base := opts.Date + opts.Suffix()
	out.PayoutFile = filepath.Join(opts.OutDir, "payout_"+base+".csv")
	if err := WritePayoutFile(ctx, s, out.PayoutFile, pp.lines); err != nil {
		return out, err
	}
	out.ReportFile = filepath.Join(opts.OutDir, "settlement_"+base+".xlsx")
	if err := WriteReport(ctx, s, out.ReportFile, opts.Date, opts.Now(), out); err != nil {
		return out, err
	}
	return out, nil
}

// inScope reports whether the options' scope (--merchant, or the shard) takes a merchant.
func (o *Options) inScope(id string) bool {
	return (o.Merchant == "" || id == o.Merchant) && (o.Shards <= 1 || Shard(id, o.Shards) == o.Shard)
}

// record adds one merchant's result to out.
func (out *Outcome) record(r merchantResult) {
	out.Deferred += r.deferred
	if r.skipped {
		out.Skipped++
	}
	for _, v := range r.views {
		if v.New {
			out.Created++
		}
	}
	out.Batches = append(out.Batches, r.views...)
	for _, id := range r.planned {
		if out.planned == nil {
			out.planned = map[string]bool{}
		}
		out.planned[id] = true
	}
}

// runEach settles merchants workers at a time, each in its own transaction. Merchants are
// independent: a few at a time overlap one merchant's reads with another's commit (on SQLite
// the store's group commit then shares one fsync between them).
func runEach(ctx context.Context, s *store.Store, ms []store.SettleMerchant, opts Options, workers int, out *Outcome) error {
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
				r, err := settleWithRetry(ctx, s, m, opts)
				mu.Lock()
				if err != nil {
					if ferr == nil {
						ferr = fmt.Errorf("merchant %s: %w", m.ID, err)
						cancel()
					}
					mu.Unlock()
					return
				}
				out.record(r)
				done++
				if opts.Progress != nil {
					opts.Progress(done, len(ms))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ferr
}

// merchantResult is what settling one merchant did.
type merchantResult struct {
	views    []View
	deferred int      // refunds waiting for their payment
	skipped  bool     // settled on a later date already
	planned  []string // a dry run's item ids
}

// plan is one merchant's settlement, computed and not yet written: writes is empty when the
// merchant has nothing to write (already settled on the date, skipped, nothing unsettled, or
// a dry run).
type plan struct {
	m      store.SettleMerchant
	res    merchantResult
	writes []batchWrite
	items  int
	now    time.Time
}

type batchWrite struct {
	b           paygw.SettleBatch
	items       []paygw.SettleItem
	hold        string   // the hold reason, written with the batch
	adjustments []string // recon_adjustments paid in the batch
}

// settleWithRetry settles one merchant in its own transaction, re-reading its state when
// another run won a race.
func settleWithRetry(ctx context.Context, s *store.Store, m store.SettleMerchant, opts Options) (merchantResult, error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return merchantResult{}, err
		}
		r, err := settleMerchant(ctx, s, m, opts)
		if !errors.Is(err, store.ErrBatchRace) || attempt == 3 {
			return r, err
		}
		opts.Log.Info().Str("merchant_id", m.ID).Msg("another run settled this merchant first; re-reading")
	}
}

// settleMerchant settles one merchant, or returns its existing batches of the date.
func settleMerchant(ctx context.Context, s *store.Store, m store.SettleMerchant, opts Options) (merchantResult, error) {
	p, err := prepare(ctx, s, m, opts)
	if err != nil || len(p.writes) == 0 {
		return p.res, err
	}
	if err := s.Transact(ctx, func(tx *store.Tx) error { return p.write(ctx, tx) }); err != nil {
		return merchantResult{}, err
	}
	p.logWritten(opts.Log)
	return p.res, nil
}

// prepare reads a merchant's state and unsettled items and computes its batches of the date.
func prepare(ctx context.Context, s *store.Store, m store.SettleMerchant, opts Options) (plan, error) {
	p := plan{m: m}
	onDate, latest, err := s.MerchantBatchState(ctx, m.ID, opts.Date)
	if err != nil {
		return p, err
	}
	if len(onDate) > 0 {
		for _, b := range onDate {
			p.res.views = append(p.res.views, View{SettleBatch: b, MerchantName: m.Name})
		}
		return p, nil
	}
	for _, l := range latest {
		if l.Date > opts.Date {
			// Its items up to the date went into that later batch; a batch dated earlier would
			// break the carry-forward chain.
			opts.Log.Warn().Str("merchant_id", m.ID).Str("settled_through", l.Date).Msg("merchant already settled on a later date; skipped")
			p.res.skipped = true
			return p, nil
		}
	}
	ps, rs, err := s.Unsettled(ctx, m.ID, opts.Date, opts.RequireReconciled)
	if err != nil {
		return p, err
	}
	adjs, err := s.UnsettledAdjustments(ctx, m.ID, opts.Date)
	if err != nil {
		return p, err
	}
	if len(ps) == 0 && len(rs) == 0 && len(adjs) == 0 {
		return p, nil
	}
	carried := map[money.Currency]int64{}
	for c, l := range latest {
		carried[money.Currency(c)] = CarryOut(l.Net)
	}
	res, err := Compute(m.FeePlan, carried, toPayments(ps), toRefunds(rs))
	if err != nil {
		return p, err
	}
	if err := AddAdjustments(&res, carried, eligibleAdjustments(adjs, res, opts.Log)); err != nil {
		return p, err
	}
	p.res.deferred = len(res.Deferred)
	p.now = store.Now(opts.Now())
	for _, b := range res.Batches {
		sb := paygw.SettleBatch{
			ID: paygw.NewID("stb"), MerchantID: m.ID, Currency: string(b.Currency), Date: opts.Date,
			PrevBatchID: latest[string(b.Currency)].ID,
			Payments:    b.Payments, Refunds: b.Refunds, Gross: b.Gross, Refunded: b.Refunded, Fee: b.Fee,
			CarriedIn: b.CarriedIn, Net: b.Net, Status: b.Status, CreatedAt: p.now, UpdatedAt: p.now,
		}
		items := make([]paygw.SettleItem, len(b.Items))
		for i, it := range b.Items {
			items[i] = paygw.SettleItem{ObjectID: it.ID, BatchID: sb.ID, Kind: paygw.ObjectKind(it.Kind), PaymentID: it.PaymentID,
				OutNo: it.OutNo, BusinessDate: it.BusinessDate, Amount: it.Amount, Fee: it.Fee}
		}
		adjIDs := make([]string, len(b.Adjustments))
		for i, a := range b.Adjustments {
			adjIDs[i] = a.ID
		}
		p.items += len(items)
		v := View{SettleBatch: sb, MerchantName: m.Name, New: true}
		if sb.Status == StatusSettled {
			v.HoldReason = HoldReason(m)
		}
		p.res.views = append(p.res.views, v)
		if !opts.DryRun {
			p.writes = append(p.writes, batchWrite{b: sb, items: items, hold: v.HoldReason, adjustments: adjIDs})
		} else {
			for _, it := range items {
				p.res.planned = append(p.res.planned, it.ObjectID)
			}
		}
	}
	return p, nil
}

// write inserts the merchant's batches, items and settlement journals in tx. A lost race is
// ErrBatchRace.
func (p *plan) write(ctx context.Context, tx *store.Tx) error {
	for _, w := range p.writes {
		if err := tx.InsertSettleBatch(ctx, w.b, w.items); err != nil {
			return err
		}
		if err := tx.SettleAdjustments(ctx, w.b.ID, w.adjustments); err != nil {
			return err
		}
		if w.hold != "" {
			// Held in the batch's own transaction: no payout file can list it in between.
			if err := tx.HoldBatch(ctx, w.b.ID, w.b.MerchantID, w.hold, p.now); err != nil {
				return err
			}
		}
		j, err := ledger.Settlement(w.b.ID, p.m.ID, money.Currency(w.b.Currency), w.b.Gross, w.b.Refunded, w.b.Fee)
		if err != nil {
			return err
		}
		if len(j.Postings) == 0 {
			continue // refunds that exactly undo payments in the same batch move nothing
		}
		if err := tx.PostJournal(ctx, j, p.now); err != nil {
			if store.IsUnique(err) {
				return fmt.Errorf("%w: %w", store.ErrBatchRace, err)
			}
			return err
		}
	}
	return nil
}

func (p *plan) logWritten(log zerolog.Logger) {
	for _, v := range p.res.views {
		log.Info().Str("merchant_id", p.m.ID).Str("batch_id", v.ID).Str("currency", v.Currency).
			Int64("payments", v.Payments).Int64("refunds", v.Refunds).Int64("net", v.Net).Str("status", v.Shown()).Str("hold_reason", v.HoldReason).Msg("batch settled")
	}
}

// eligibleAdjustments keeps the adjustments whose payment or refund is settled already or in
// res: a difference is never paid before the transaction it corrects.
func eligibleAdjustments(adjs []store.UnsettledAdjustment, res Result, log zerolog.Logger) []Adjustment {
	var in map[string]bool
	var out []Adjustment
	for _, a := range adjs {
		if !a.ObjectSettled {
			if in == nil {
				in = map[string]bool{}
				for _, b := range res.Batches {
					for _, it := range b.Items {
						in[it.ID] = true
					}
				}
			}
			if !in[a.ObjectID] {
				log.Info().Str("adjustment_id", a.ID).Str("object_id", a.ObjectID).Msg("adjustment waits for its transaction to settle")
				continue
			}
		}
		out = append(out, Adjustment{ID: a.ID, ObjectID: a.ObjectID, PaymentID: a.PaymentID, OutNo: a.OutNo,
			Currency: money.Currency(a.Currency), BusinessDate: a.BusinessDate, Amount: a.Amount})
	}
	return out
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
			PaymentFee: r.PaymentFee, RefundedBefore: r.RefundedBefore, ReturnedBefore: r.ReturnedBefore}
	}
	return out
}

// WriteReport writes the settlement report of date for a run's outcome (its batches, those on
// hold and what was held back), streaming the detail from the database.
func WriteReport(ctx context.Context, s *store.Store, path, date string, now time.Time, out Outcome) error {
	d, err := paygw.ParseDate(date)
	if err != nil {
		return err
	}
	batches := out.Batches
	rs := report.Settlement{Date: d, GeneratedAt: now.UTC()}
	for _, b := range batches {
		status := b.Shown()
		if b.HoldReason != "" {
			status = "on hold: " + ReasonText(b.HoldReason)
		}
		rs.Batches = append(rs.Batches, report.SettlementBatch{
			MerchantID: b.MerchantID, MerchantName: b.MerchantName, Currency: money.Currency(b.Currency), BatchID: b.ID,
			Payments: b.Payments, Refunds: b.Refunds, Gross: b.Gross, Refunded: b.Refunded, Fee: b.Fee,
			CarriedIn: b.CarriedIn, Net: b.Net, Status: status,
		})
	}
	for _, h := range out.OnHold {
		bd, err := paygw.ParseDate(h.Date)
		if err != nil {
			return fmt.Errorf("batch %s: %w", h.ID, err)
		}
		rs.OnHold = append(rs.OnHold, report.SettlementHold{MerchantID: h.MerchantID, MerchantName: h.MerchantName,
			Currency: money.Currency(h.Currency), BatchID: h.ID, Date: bd, Net: h.Net, Reason: ReasonText(h.Reason)})
	}
	for _, h := range out.HeldBack {
		rs.HeldBack = append(rs.HeldBack, report.SettlementHeldBack{MerchantID: h.MerchantID, MerchantName: h.MerchantName,
			Currency: money.Currency(h.Currency), Kind: report.Kind(h.Kind), Reason: HeldBackText(h.Reason), Count: h.Count, Amount: h.Amount})
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
		err := s.EachSettleItem(ctx, ids, func(r store.SettleItemRow) error {
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
		if err != nil {
			return err
		}
		// Accepted reconciliation differences follow, each as its own line (ID: the transaction
		// it corrects).
		return s.EachBatchAdjustment(ctx, ids, func(a paygw.ReconAdjustment) error {
			bd, err := paygw.ParseDate(a.BusinessDate)
			if err != nil {
				return fmt.Errorf("adjustment %s: %w", a.ID, err)
			}
			return yield(report.SettlementItem{BatchID: a.BatchID, MerchantID: a.MerchantID, Kind: report.KindAdjustment,
				ID: a.ObjectID, OutNo: a.OutNo, BusinessDate: bd, Amount: a.Amount, Currency: money.Currency(a.Currency)})
		})
	}
	return report.WriteSettlement(path, rs, items)
}
