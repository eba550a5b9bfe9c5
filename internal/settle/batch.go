// Package settle closes business dates: per merchant and currency it gathers the succeeded
// payments and refunds not settled yet, computes fees by the merchant's plan, and writes one
// batch with its items and ledger journal (DESIGN.md §4). It also writes the payout file for
// the bank, reads the bank's return file, and shards merchants across parallel runs.
//
// The arithmetic of a batch is the pure function Compute; Run wraps it with storage.
package settle

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/paygw/paygw/internal/fee"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
)

// Batch statuses: the domain's, under the names settlement's code reads.
const (
	StatusSettled = paygw.SettleSettled // net > 0, awaiting payout
	StatusCarried = paygw.SettleCarried // net <= 0, carried into the merchant's next batch
	StatusPaid    = paygw.SettlePaid    // payout confirmed by the bank
)

// Item kinds.
const (
	KindPayment = "payment"
	KindRefund  = "refund"
	// KindAdjustment is an accepted reconciliation difference (recon_adjustments), shown as its
	// own line; it is not a settle_items row.
	KindAdjustment = "adjustment"
)

// Payment is a succeeded payment waiting to be settled.
type Payment struct {
	ID           string
	OutNo        string // the merchant's out_trade_no
	Currency     money.Currency
	Amount       int64
	BusinessDate string
	PaidAt       time.Time
}

// Refund is a succeeded refund waiting to be settled, with what earlier batches recorded about
// its payment.
type Refund struct {
	ID            string
	PaymentID     string
	OutNo         string // the merchant's out_refund_no
	Currency      money.Currency
	Amount        int64
	BusinessDate  string
	SucceededAt   time.Time
	PaymentAmount int64
	// PaymentFee is the fee recorded for the payment in the batch that settled it, or nil when
	// the payment is not settled yet (then it must be in the same computation, or the refund
	// waits for it).
	PaymentFee *int64
	// RefundedBefore and ReturnedBefore are the amount and fee of the payment's refunds settled
	// in earlier batches.
	RefundedBefore, ReturnedBefore int64
}

// Item is one settled payment or refund. Fee is the fee charged on a payment, or the fee a
// refund returns; both are recorded so later refunds and reports use them.
type Item struct {
	Kind         string // KindPayment | KindRefund
	ID           string
	PaymentID    string // the payment itself, or the refunded payment
	OutNo        string
	BusinessDate string
	Amount       int64
	Fee          int64
}

// Batch is the computed settlement of one merchant in one currency.
type Batch struct {
	Currency  money.Currency
	Payments  int64
	Refunds   int64
	Gross     int64 // sum of payments
	Refunded  int64 // sum of refunds
	Fee       int64 // fees on the payments − fees returned by the refunds
	CarriedIn int64 // the previous batch's negative net (<= 0)
	Net       int64 // Gross − Refunded − Fee + CarriedIn
	Status    paygw.SettleStatus
	Items     []Item
	// Adjustments are the accepted reconciliation differences paid in this batch: a positive one
	// is counted in Gross, a negative one in Refunded (money in, money out); they carry no fee.
	Adjustments []Adjustment
}

// Adjustment is an accepted reconciliation difference waiting to be settled (DESIGN.md §4,
// docs/reconciliation.md): Amount is signed, positive when the merchant is owed more.
type Adjustment struct {
	ID           string
	ObjectID     string // the payment or refund it corrects
	PaymentID    string
	OutNo        string
	Currency     money.Currency
	BusinessDate string
	Amount       int64
}

// AddAdjustments adds a merchant's accepted differences to res: each into the batch of its
// currency (a batch is created, carrying in carried[currency], when the merchant has nothing
// else to settle in it), a positive amount into Gross and a negative one into Refunded, then
// recomputes Net and Status. An adjustment is paid with its transaction or after it: the
// caller passes only those whose payment or refund is settled or in res.
func AddAdjustments(res *Result, carried map[money.Currency]int64, adjs []Adjustment) error {
	if len(adjs) == 0 {
		return nil
	}
	touched := map[money.Currency]bool{}
	for _, a := range adjs {
		if a.Amount == 0 {
			return fmt.Errorf("adjustment %s: zero amount", a.ID)
		}
		if !a.Currency.Valid() {
			return fmt.Errorf("adjustment %s: unknown currency %q", a.ID, a.Currency)
		}
		i := slices.IndexFunc(res.Batches, func(b Batch) bool { return b.Currency == a.Currency })
		if i < 0 {
			res.Batches = append(res.Batches, Batch{Currency: a.Currency, CarriedIn: min(carried[a.Currency], 0)})
			i = len(res.Batches) - 1
		}
		b := &res.Batches[i]
		var err error
		if a.Amount > 0 {
			b.Gross, err = money.Add(b.Gross, a.Amount)
		} else if a.Amount == -1<<63 {
			err = fmt.Errorf("amount %d out of range", a.Amount)
		} else {
			b.Refunded, err = money.Add(b.Refunded, -a.Amount)
		}
		if err != nil {
			return fmt.Errorf("adjustment %s: %w", a.ID, err)
		}
		b.Adjustments = append(b.Adjustments, a)
		touched[a.Currency] = true
	}
	for i := range res.Batches {
		b := &res.Batches[i]
		if !touched[b.Currency] {
			continue
		}
		net, err := Net(b.Gross, b.Refunded, b.Fee, b.CarriedIn)
		if err != nil {
			return fmt.Errorf("%s batch: %w", b.Currency, err)
		}
		b.Net, b.Status = net, StatusOf(net)
	}
	slices.SortFunc(res.Batches, func(a, b Batch) int { return cmp.Compare(a.Currency, b.Currency) })
	return nil
}

// Result is what Compute decides for one merchant.
type Result struct {
	Batches  []Batch  // one per currency with at least one item, by currency
	Deferred []Refund // refunds whose payment is neither settled nor in this computation
}

// Compute settles one merchant: one batch per currency of the given payments and refunds.
// carried maps a currency to the negative net carried in from the merchant's previous batch
// (positive or missing entries count as zero). Payment fees follow plan; a refund returns
// fee.Refund of its payment's fee, where "before" counts the payment's refunds settled earlier
// and those earlier in this computation, ordered by success time then id. A refund whose
// payment is not settled and not among payments is deferred, not settled.
func Compute(plan paygw.FeePlan, carried map[money.Currency]int64, payments []Payment, refunds []Refund) (Result, error) {
	var res Result
	byCur := map[money.Currency]*Batch{}
	batch := func(c money.Currency) (*Batch, error) {
		if b := byCur[c]; b != nil {
			return b, nil
		}
		if !c.Valid() {
			return nil, fmt.Errorf("unknown currency %q", c)
		}
		b := &Batch{Currency: c, CarriedIn: min(carried[c], 0)}
		byCur[c] = b
		return b, nil
	}
	type payFee struct {
		fee, amount        int64
		refunded, returned int64 // refunds of it in this computation so far
	}
	inBatch := make(map[string]*payFee, len(payments))
	ps := slices.Clone(payments)
	slices.SortFunc(ps, func(a, b Payment) int { return cmp.Or(a.PaidAt.Compare(b.PaidAt), cmp.Compare(a.ID, b.ID)) })
	for _, p := range ps {
		if p.Amount <= 0 {
			return Result{}, fmt.Errorf("payment %s: amount %d must be positive", p.ID, p.Amount)
		}
		if _, dup := inBatch[p.ID]; dup {
			return Result{}, fmt.Errorf("payment %s listed twice", p.ID)
		}
		b, err := batch(p.Currency)
		if err != nil {
			return Result{}, fmt.Errorf("payment %s: %w", p.ID, err)
		}
		f, err := fee.Payment(plan, p.Amount)
		if err != nil {
			return Result{}, fmt.Errorf("payment %s fee: %w", p.ID, err)
		}
		inBatch[p.ID] = &payFee{fee: f, amount: p.Amount}
		b.Payments++
		if err := addAll(p.ID, [2]*int64{&b.Gross, &b.Fee}, [2]int64{p.Amount, f}); err != nil {
			return Result{}, err
		}
		b.Items = append(b.Items, Item{Kind: KindPayment, ID: p.ID, PaymentID: p.ID, OutNo: p.OutNo,
			BusinessDate: p.BusinessDate, Amount: p.Amount, Fee: f})
	}
	rs := slices.Clone(refunds)
	slices.SortFunc(rs, func(a, b Refund) int { return cmp.Or(a.SucceededAt.Compare(b.SucceededAt), cmp.Compare(a.ID, b.ID)) })
	// Refunds of a payment settled earlier accumulate here across this computation.
	earlier := map[string]*payFee{}
	seen := make(map[string]bool, len(rs))
	for _, r := range rs {
		if seen[r.ID] {
			return Result{}, fmt.Errorf("refund %s listed twice", r.ID)
		}
		seen[r.ID] = true
		var pf *payFee
		var refundedBefore, returnedBefore int64
		switch {
		case inBatch[r.PaymentID] != nil:
			pf = inBatch[r.PaymentID]
			// A payment settled in this batch has no refunds settled before it.
			refundedBefore, returnedBefore = pf.refunded, pf.returned
		case r.PaymentFee != nil:
			pf = earlier[r.PaymentID]
			if pf == nil {
				pf = &payFee{fee: *r.PaymentFee, amount: r.PaymentAmount}
				earlier[r.PaymentID] = pf
			}
			refundedBefore, returnedBefore = r.RefundedBefore+pf.refunded, r.ReturnedBefore+pf.returned
		default:
			res.Deferred = append(res.Deferred, r)
			continue
		}
		b, err := batch(r.Currency)
		if err != nil {
			return Result{}, fmt.Errorf("refund %s: %w", r.ID, err)
		}
		f, err := fee.Refund(pf.fee, pf.amount, r.Amount, refundedBefore, returnedBefore)
		if err != nil {
			return Result{}, fmt.Errorf("refund %s of payment %s: %w", r.ID, r.PaymentID, err)
		}
		pf.refunded += r.Amount
		pf.returned += f
		b.Refunds++
		if err := addAll(r.ID, [2]*int64{&b.Refunded, &b.Fee}, [2]int64{r.Amount, -f}); err != nil {
			return Result{}, err
		}
		b.Items = append(b.Items, Item{Kind: KindRefund, ID: r.ID, PaymentID: r.PaymentID, OutNo: r.OutNo,
			BusinessDate: r.BusinessDate, Amount: r.Amount, Fee: f})
	}
	for _, b := range byCur {
		net, err := Net(b.Gross, b.Refunded, b.Fee, b.CarriedIn)
		if err != nil {
			return Result{}, fmt.Errorf("%s batch: %w", b.Currency, err)
		}
		b.Net, b.Status = net, StatusOf(net)
		res.Batches = append(res.Batches, *b)
	}
	slices.SortFunc(res.Batches, func(a, b Batch) int { return cmp.Compare(a.Currency, b.Currency) })
	return res, nil
}

// Net is gross − refunded − fee + carriedIn, refusing int64 overflow.
func Net(gross, refunded, fee, carriedIn int64) (int64, error) {
	n, err := money.Add(gross, -refunded)
	if err == nil {
		n, err = money.Add(n, -fee)
	}
	if err == nil {
		n, err = money.Add(n, carriedIn)
	}
	return n, err
}

// StatusOf is the status of a new batch with net: settled when there is something to pay out,
// carried otherwise.
func StatusOf(net int64) paygw.SettleStatus {
	if net > 0 {
		return StatusSettled
	}
	return StatusCarried
}

// CarryOut is the amount a batch with net carries into the merchant's next batch.
func CarryOut(net int64) int64 { return min(net, 0) }

func addAll(id string, sums [2]*int64, vs [2]int64) error {
	for i, s := range sums {
		v, err := money.Add(*s, vs[i])
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		*s = v
	}
	return nil
}

// Shard returns the shard, in [0, n), that settles merchantID when merchants are split n ways:
// FNV-1a of the id modulo n, stable across processes, releases and machines.
func Shard(merchantID string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(merchantID))
	return int(h.Sum32() % uint32(n))
}
