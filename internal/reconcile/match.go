// Package reconcile compares a channel's statement for one business date with paygw's payments
// and refunds (DESIGN.md §4 "reconcile"): a streaming hash join whose matching rules are a pure
// Matcher with no I/O, and the run around it (Run) that reads the statement, streams paygw's side
// from the store, stores the result in one transaction and writes the Excel report. Resolve applies
// an operator's decision on one discrepancy.
package reconcile

import (
	"fmt"
	"hash/maphash"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/fee"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/statement"
)

// Class is the outcome of matching one statement row or internal transaction (DESIGN.md): the
// domain's paygw.ReconClass, under the name the matcher's code reads.
type Class = paygw.ReconClass

// The reconciliation classes.
const (
	Matched         = paygw.ReconMatched
	MissingInternal = paygw.ReconMissingInternal
	MissingChannel  = paygw.ReconMissingChannel
	AmountMismatch  = paygw.ReconAmountMismatch
	StatusMismatch  = paygw.ReconStatusMismatch
	FeeMismatch     = paygw.ReconFeeMismatch
	Duplicate       = paygw.ReconDuplicate
	Pending         = paygw.ReconPending
)

// Classes lists every class in report order.
var Classes = paygw.ReconClasses

// Kind says whether an item is a payment or a refund.
type Kind = paygw.ObjectKind

// The item kinds.
const (
	KindPayment = paygw.ObjectPayment
	KindRefund  = paygw.ObjectRefund
)

// Ours is paygw's side of one payment or refund, as the matcher needs it.
type Ours struct {
	Kind            Kind
	PaymentID       string
	RefundID        string // refunds only
	MerchantID      string
	ChannelTradeNo  string // on a refund, the refunded payment's
	ChannelRefundNo string // refunds only
	Amount          int64  // payment or refund amount, minor units
	Currency        money.Currency
	Status          string // paygw's status word
	// Collected is true for a paid payment (succeeded, partially_refunded, refunded) and a
	// succeeded refund: money moved.
	Collected bool
	// At is the success instant (paid_at / succeeded_at); zero when not collected.
	At time.Time
	// Reconciled is true when an earlier run (of any date) marked it reconciled.
	Reconciled bool
	// PaymentAmount and EarlierRefunds (amounts of the payment's earlier succeeded refunds, in
	// order) give the channel fee a refund is expected to return; refunds only.
	PaymentAmount  int64
	EarlierRefunds []int64
}

// key names ours in OpenPending sets and resolutions: "payment:ID" or "refund:ID".
func (o *Ours) key() string {
	if o.Kind == KindRefund {
		return "refund:" + o.RefundID
	}
	return "payment:" + o.PaymentID
}

// ItemKey names the internal side of an item the way Params.OpenPending does.
func ItemKey(kind Kind, paymentID, refundID string) string {
	if kind == KindRefund {
		return "refund:" + refundID
	}
	return "payment:" + paymentID
}

// Item is one result of matching. A side that does not have the item leaves its fields zero.
type Item struct {
	Class           Class
	Kind            Kind
	PaymentID       string
	RefundID        string
	MerchantID      string
	ChannelTradeNo  string
	ChannelRefundNo string
	Currency        money.Currency
	InternalAmount  int64
	ChannelAmount   int64
	InternalFee     int64 // the fee the channel is expected to charge (or return)
	ChannelFee      int64
	InternalStatus  string
	ChannelStatus   string
	// TradeTime is the statement row's time, or paygw's success time when the channel has none.
	TradeTime time.Time
	// Line is the statement line, 0 when the statement has no such row.
	Line int
	Note string
	// Reconcile says paygw's side is to be marked reconciled (matched and collected).
	Reconcile bool
	// ResolvesPending says an open pending item of another date for the same payment or refund is
	// settled by this item (it turned up, or its neighbouring statement confirmed it missing).
	ResolvesPending bool
}

// Params are the facts a Matcher needs besides the two sides.
type Params struct {
	// Start and End are the UTC bounds [Start, End) of the business date.
	Start, End time.Time
	// PendingWindow: collected items this close to a cutoff that the statement lacks are pending
	// while the neighbouring date has not been reconciled.
	PendingWindow time.Duration
	// FeeRateBps is what the channel charges (config channels.NAME.fee_rate_bps).
	FeeRateBps int64
	// PrevDone and NextDone say whether the previous and next dates have a current run.
	PrevDone, NextDone bool
	// OpenPending holds ItemKey of the open pending items of other dates of this channel.
	OpenPending map[string]bool
}

// Hash-index domains: each statement row is indexed under a primary key (channel number) and a
// secondary key (the id paygw sent).
const (
	domPayCTN = iota
	domPayOut
	domRefCRN
	domRefOut
	numDomains
)

// sref is a string stored in the matcher's arena.
type sref struct {
	off uint32
	n   uint32
}

// srow is one statement row, stored without pointers so a million of them cost the collector
// nothing to scan.
type srow struct {
	at, amount, fee    int64
	ctn, crn, otn, orn sref
	line               int32
	next1, next2       int32 // hash chains of the primary and secondary index
	cur, status        uint8 // indexes into Matcher.curs / Matcher.statuses
	refund, seen       bool
}

// Matcher is a streaming hash join of one statement against paygw's payments and refunds. Add
// every statement row first (Add reports duplicates), then offer paygw's side one record at a
// time with Match, offer what the store finds for the rows left over with MatchFound, and
// finally Finish reports the rows nobody claimed. It holds the statement only, compactly (about
// 150 bytes a row); paygw's side streams through. It does no I/O.
type Matcher struct {
	p        Params
	seeds    [numDomains]maphash.Seed
	index    map[uint64]int32
	rows     []srow
	arena    []byte
	curs     []money.Currency
	statuses []string
}

// NewMatcher returns an empty matcher; sizeHint is the expected number of statement rows (0 if unknown).
func NewMatcher(p Params, sizeHint int) *Matcher {
	m := &Matcher{p: p, index: make(map[uint64]int32, 2*sizeHint), rows: make([]srow, 0, sizeHint)}
	for i := range m.seeds {
		m.seeds[i] = maphash.MakeSeed()
	}
	return m
}

// Len is the number of statement rows added (duplicates included).
func (m *Matcher) Len() int { return len(m.rows) }

func (m *Matcher) put(s string) sref {
	r := sref{off: uint32(len(m.arena)), n: uint32(len(s))}
	m.arena = append(m.arena, s...)
	return r
}

func (m *Matcher) str(r sref) string { return string(m.arena[r.off : r.off+r.n]) }

func (m *Matcher) eq(r sref, s string) bool {
	return int(r.n) == len(s) && string(m.arena[r.off:r.off+r.n]) == s
}

// small interns s in list (currencies, statuses: a handful of values) and returns its index.
func small[S ~string](list *[]S, s S) uint8 {
	for i, x := range *list {
		if x == s {
			return uint8(i)
		}
	}
	*list = append(*list, s)
	return uint8(len(*list) - 1)
}

func (m *Matcher) hash(dom int, s string) uint64 {
	return maphash.String(m.seeds[dom], s)
}

// keys returns the domains and keys a row is indexed under: primary first; a key may be empty.
func rowKeys(refund bool, ctn, crn, otn, orn string) (d1 int, k1 string, d2 int, k2 string) {
	if refund {
		return domRefCRN, crn, domRefOut, orn
	}
	return domPayCTN, ctn, domPayOut, otn
}

// find returns the index of the first unseen row with key k in domain dom, or -1.
func (m *Matcher) find(dom int, k string) int32 {
	if k == "" {
		return -1
	}
	i, ok := m.index[m.hash(dom, k)]
	if !ok {
		return -1
	}
	for ; i >= 0; i = m.nextOf(dom, i) {
		r := &m.rows[i]
		if r.refund != (dom == domRefCRN || dom == domRefOut) {
			continue
		}
		if m.eq(m.keyOf(dom, r), k) {
			return i
		}
	}
	return -1
}

func (m *Matcher) keyOf(dom int, r *srow) sref {
	switch dom {
	case domPayCTN:
		return r.ctn
	case domPayOut:
		return r.otn
	case domRefCRN:
		return r.crn
	}
	return r.orn
}

func (m *Matcher) nextOf(dom int, i int32) int32 {
	if dom == domPayCTN || dom == domRefCRN {
		return m.rows[i].next1
	}
	return m.rows[i].next2
}

func (m *Matcher) link(dom int, k string, i int32) {
	if k == "" {
		return
	}
	h := m.hash(dom, k)
	head, ok := m.index[h]
	if !ok {
		head = -1
	}
	if dom == domPayCTN || dom == domRefCRN {
		m.rows[i].next1 = head
	} else {
		m.rows[i].next2 = head
	}
	m.index[h] = i
}

// Add indexes one statement row. A row whose channel number (channel trade no. of a payment,
// channel refund no. of a refund; the id paygw sent when the channel gives none) was seen before
// is a duplicate: it is not indexed and Add returns its Duplicate item.
func (m *Matcher) Add(r statement.Row) (Item, bool, error) {
	if len(m.rows) >= 1<<31-1 || len(m.arena) > 1<<32-1024 {
		return Item{}, false, fmt.Errorf("line %d: statement too large for one run", r.Line)
	}
	if len(m.curs) >= 255 || len(m.statuses) >= 255 {
		return Item{}, false, fmt.Errorf("line %d: more than 255 distinct currencies or statuses", r.Line)
	}
	refund := r.Kind == statement.KindRefund
	d1, k1, d2, k2 := rowKeys(refund, r.ChannelTradeNo, r.ChannelRefundNo, r.OutTradeNo, r.OutRefundNo)
	dupKey, dupDom := k1, d1
	if dupKey == "" {
		dupKey, dupDom = k2, d2
	}
	if dupKey != "" {
		if j := m.find(dupDom, dupKey); j >= 0 {
			it := m.channelItem(r)
			it.Class = Duplicate
			it.Note = fmt.Sprintf("same %s as line %d", keyName(dupDom), m.rows[j].line)
			m.rows = append(m.rows, srow{line: int32(r.Line), seen: true, next1: -1, next2: -1})
			return it, true, nil
		}
	}
	m.rows = append(m.rows, srow{
		at: r.TradeTime.UnixMicro(), amount: r.Amount, fee: r.Fee,
		ctn: m.put(r.ChannelTradeNo), crn: m.put(r.ChannelRefundNo), otn: m.put(r.OutTradeNo), orn: m.put(r.OutRefundNo),
		line: int32(r.Line), next1: -1, next2: -1,
		cur: small(&m.curs, r.Currency), status: small(&m.statuses, r.Status), refund: refund,
	})
	i := int32(len(m.rows) - 1)
	m.link(d1, k1, i)
	m.link(d2, k2, i)
	return Item{}, false, nil
}

func keyName(dom int) string {
	switch dom {
	case domPayCTN:
		return "channel trade no."
	case domPayOut:
		return "out_trade_no"
	case domRefCRN:
		return "channel refund no."
	}
	return "out_refund_no"
}

// channelItem is the channel side of an item built from a statement row.
func (m *Matcher) channelItem(r statement.Row) Item {
	it := Item{Kind: KindPayment, ChannelTradeNo: r.ChannelTradeNo, ChannelRefundNo: r.ChannelRefundNo,
		PaymentID: r.OutTradeNo, RefundID: r.OutRefundNo, Currency: r.Currency, ChannelAmount: r.Amount,
		ChannelFee: r.Fee, ChannelStatus: r.Status, TradeTime: r.TradeTime, Line: r.Line}
	if r.Kind == statement.KindRefund {
		it.Kind = KindRefund
	} else {
		it.RefundID = ""
	}
	return it
}

func (m *Matcher) row(i int32) statement.Row {
	r := &m.rows[i]
	kind := statement.KindPayment
	if r.refund {
		kind = statement.KindRefund
	}
	return statement.Row{Line: int(r.line), Kind: kind, TradeTime: time.UnixMicro(r.at).UTC(),
		ChannelTradeNo: m.str(r.ctn), ChannelRefundNo: m.str(r.crn), OutTradeNo: m.str(r.otn), OutRefundNo: m.str(r.orn),
		Amount: r.amount, Fee: r.fee, Currency: m.curs[r.cur], Status: m.statuses[r.status]}
}

// lookup finds the statement row of ours: by the channel's number, falling back to paygw's id.
func (m *Matcher) lookup(o *Ours) int32 {
	if o.Kind == KindRefund {
		if i := m.find(domRefCRN, o.ChannelRefundNo); i >= 0 {
			return i
		}
		return m.find(domRefOut, o.RefundID)
	}
	if i := m.find(domPayCTN, o.ChannelTradeNo); i >= 0 {
		return i
	}
	return m.find(domPayOut, o.PaymentID)
}

// Match classifies one of paygw's payments or refunds streamed from the date window. It returns
// false when there is nothing to report: not on this statement and not this date's business.
func (m *Matcher) Match(o Ours) (Item, bool, error) {
	if i := m.lookup(&o); i >= 0 {
		it, err := m.pair(i, &o)
		return it, true, err
	}
	if !o.Collected {
		return Item{}, false, nil // nothing moved on either side
	}
	it := m.internalItem(&o)
	it.TradeTime = o.At
	inDay := !o.At.Before(m.p.Start) && o.At.Before(m.p.End)
	if !inDay {
		// A neighbouring date's transaction: report it only when its own run left it pending, so
		// this statement, the other candidate, settles the question.
		if m.p.OpenPending[o.key()] {
			it.Class = MissingChannel
			it.Note = "pending on its own date's statement and not on this one either"
			it.ResolvesPending = true
			return it, true, nil
		}
		return Item{}, false, nil
	}
	w := m.p.PendingWindow
	nearStart := o.At.Before(m.p.Start.Add(w))
	nearEnd := !o.At.Before(m.p.End.Add(-w))
	switch {
	case (nearStart && !m.p.PrevDone) || (nearEnd && !m.p.NextDone):
		it.Class = Pending
		it.Note = "near the cutoff: re-checked when the neighbouring date is reconciled"
	case (nearStart || nearEnd) && o.Reconciled:
		return Item{}, false, nil // matched on the neighbouring date's statement
	default:
		it.Class = MissingChannel
	}
	return it, true, nil
}

// MatchFound classifies a payment or refund the store found, outside the date window, for a
// statement row left over after streaming. It reports false when ours claims no unseen row.
func (m *Matcher) MatchFound(o Ours) (Item, bool, error) {
	i := m.lookup(&o)
	if i < 0 {
		return Item{}, false, nil
	}
	it, err := m.pair(i, &o)
	return it, true, err
}

func (m *Matcher) internalItem(o *Ours) Item {
	it := Item{Kind: o.Kind, PaymentID: o.PaymentID, RefundID: o.RefundID, MerchantID: o.MerchantID,
		ChannelTradeNo: o.ChannelTradeNo, ChannelRefundNo: o.ChannelRefundNo, Currency: o.Currency,
		InternalAmount: o.Amount, InternalStatus: o.Status}
	if o.Collected {
		it.InternalFee, _ = m.expectedFee(o) // an impossible fee leaves 0; pair reports it
	}
	return it
}

// expectedFee is the channel fee on a payment, or the fee a refund returns (proportional, the
// completing refund returning what is left).
func (m *Matcher) expectedFee(o *Ours) (int64, error) {
	if o.Kind == KindPayment {
		return fee.Channel(m.p.FeeRateBps, o.Amount)
	}
	payFee, err := fee.Channel(m.p.FeeRateBps, o.PaymentAmount)
	if err != nil {
		return 0, err
	}
	var before, returned int64
	for _, a := range o.EarlierRefunds {
		f, err := fee.Refund(payFee, o.PaymentAmount, a, before, returned)
		if err != nil {
			return 0, err
		}
		before += a
		returned += f
	}
	return fee.Refund(payFee, o.PaymentAmount, o.Amount, before, returned)
}

// pair classifies statement row i against ours: status first, then amount, then fee.
func (m *Matcher) pair(i int32, o *Ours) (Item, error) {
	r := &m.rows[i]
	r.seen = true
	row := m.row(i)
	it := m.internalItem(o)
	it.ChannelAmount, it.ChannelFee, it.ChannelStatus = row.Amount, row.Fee, row.Status
	it.TradeTime, it.Line = row.TradeTime, row.Line
	if it.ChannelTradeNo == "" {
		it.ChannelTradeNo = row.ChannelTradeNo
	}
	if it.ChannelRefundNo == "" {
		it.ChannelRefundNo = row.ChannelRefundNo
	}
	it.ResolvesPending = m.p.OpenPending[o.key()]
	var notes []string
	if o.ChannelTradeNo != "" && row.ChannelTradeNo != "" && o.ChannelTradeNo != row.ChannelTradeNo {
		notes = append(notes, fmt.Sprintf("matched by id; channel trade no. %s on the statement, %s in paygw", row.ChannelTradeNo, o.ChannelTradeNo))
	}
	chPaid := row.Status == statement.StatusSucceeded
	switch {
	case chPaid != o.Collected:
		it.Class = StatusMismatch
		notes = append(notes, fmt.Sprintf("channel %s, paygw %s", row.Status, o.Status))
	case row.Amount != o.Amount || row.Currency != o.Currency:
		it.Class = AmountMismatch
		notes = append(notes, fmt.Sprintf("channel %s %s, paygw %s %s", money.Format(row.Amount, row.Currency), row.Currency,
			money.Format(o.Amount, o.Currency), o.Currency))
	default:
		it.Class = Matched
		if chPaid {
			want, err := m.expectedFee(o)
			if err != nil {
				return it, fmt.Errorf("statement line %d: expected fee of %s: %w", row.Line, o.key(), err)
			}
			if row.Fee != want {
				it.Class = FeeMismatch
				notes = append(notes, fmt.Sprintf("channel fee %s, expected %s at %d bps", money.Format(row.Fee, row.Currency),
					money.Format(want, o.Currency), m.p.FeeRateBps))
			}
		}
		it.Reconcile = it.Class == Matched && o.Collected
	}
	it.Note = strings.Join(notes, "; ")
	return it, nil
}

// Unseen calls fn with every statement row no record of paygw claimed yet, in file order, so
// the caller can look them up beyond the date window. fn must not call the matcher.
func (m *Matcher) Unseen(fn func(statement.Row) error) error {
	for i := range m.rows {
		if !m.rows[i].seen {
			if err := fn(m.row(int32(i))); err != nil {
				return err
			}
		}
	}
	return nil
}

// Finish reports every statement row still unclaimed as missing_internal (长款), in file order.
func (m *Matcher) Finish(emit func(Item) error) error {
	for i := range m.rows {
		r := &m.rows[i]
		if r.seen {
			continue
		}
		r.seen = true
		it := m.channelItem(m.row(int32(i)))
		it.Class = MissingInternal
		it.Note = "no such " + string(it.Kind) + " in paygw"
		if err := emit(it); err != nil {
			return err
		}
	}
	return nil
}
