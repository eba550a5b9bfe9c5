package paygw

import "time"

// ReconClass is the outcome of matching one statement row or internal transaction (DESIGN.md §4).
type ReconClass string

// The reconciliation classes.
const (
	ReconMatched         ReconClass = "matched"
	ReconMissingInternal ReconClass = "missing_internal"
	ReconMissingChannel  ReconClass = "missing_channel"
	ReconAmountMismatch  ReconClass = "amount_mismatch"
	ReconStatusMismatch  ReconClass = "status_mismatch"
	ReconFeeMismatch     ReconClass = "fee_mismatch"
	ReconDuplicate       ReconClass = "duplicate"
	ReconPending         ReconClass = "pending"
)

// ReconClasses lists every class in report order.
var ReconClasses = []ReconClass{ReconMatched, ReconMissingInternal, ReconMissingChannel, ReconAmountMismatch,
	ReconStatusMismatch, ReconFeeMismatch, ReconDuplicate, ReconPending}

// ObjectKind says whether a reconciliation item, settlement item or adjustment is about a
// payment or a refund.
type ObjectKind string

// The object kinds.
const (
	ObjectPayment ObjectKind = "payment"
	ObjectRefund  ObjectKind = "refund"
)

// ReconRunStatus says whether a run is its channel and date's current one.
type ReconRunStatus string

// The run statuses: a re-run of a date supersedes the previous run.
const (
	ReconRunCurrent    ReconRunStatus = "current"
	ReconRunSuperseded ReconRunStatus = "superseded"
)

// ReconItemState says whether a discrepancy still needs a decision.
type ReconItemState string

// The item states.
const (
	ReconItemOpen     ReconItemState = "open"
	ReconItemResolved ReconItemState = "resolved"
)

// ReconResolution is how a resolved item was decided; empty while open.
type ReconResolution string

// The resolutions: an operator accepts one side, or a later run settles a pending item (auto).
const (
	ReconAcceptChannel ReconResolution = "accept_channel"
	ReconAcceptOurs    ReconResolution = "accept_ours"
	ReconAuto          ReconResolution = "auto"
)

// ReconRun is one reconciliation run of a channel's statement for one business date.
type ReconRun struct {
	ID            string
	Channel       string
	BusinessDate  string
	Status        ReconRunStatus
	Format        string
	FileName      string
	FileSHA256    string
	StatementRows int64
	// Counts per class; a class with no items may be absent.
	Counts     map[ReconClass]int64
	Totals     string // JSON: counts and amounts per class and currency
	StartedAt  time.Time
	FinishedAt time.Time
}

// Count returns the run's number of items of class c.
func (r ReconRun) Count(c ReconClass) int64 { return r.Counts[c] }

// ReconItem is one stored result of matching that is not a plain match: a discrepancy or a
// pending item.
type ReconItem struct {
	ID              int64
	RunID           string
	Channel         string
	BusinessDate    string
	Class           ReconClass
	Kind            ObjectKind
	PaymentID       string
	RefundID        string
	MerchantID      string
	ChannelTradeNo  string
	ChannelRefundNo string
	Currency        string
	InternalAmount  int64
	ChannelAmount   int64
	InternalFee     int64
	ChannelFee      int64
	InternalStatus  string
	ChannelStatus   string
	TradeTime       *time.Time
	Line            int64
	Note            string
	State           ReconItemState
	Resolution      ReconResolution
	ResolvedBy      string
	ResolvedAt      *time.Time
	ResolutionNote  string
}

// InternalID is the id of the payment or refund the item names.
func (it ReconItem) InternalID() string {
	if it.Kind == ObjectRefund {
		return it.RefundID
	}
	return it.PaymentID
}

// Discrepancy reports whether items of class c need an operator: every class but matched and
// pending (pending waits for the neighbouring date's statement).
func (c ReconClass) Discrepancy() bool { return c != ReconMatched && c != ReconPending }

// Discrepancies is the run's number of items of discrepancy classes.
func (r ReconRun) Discrepancies() int64 {
	var n int64
	for c, k := range r.Counts {
		if c.Discrepancy() {
			n += k
		}
	}
	return n
}

// AdjustKind says what an accepted difference corrects.
type AdjustKind string

// The adjustment kinds.
const (
	AdjustAmount AdjustKind = "amount" // an accepted amount mismatch: paid to (or taken from) the merchant by settlement
	AdjustFee    AdjustKind = "fee"    // an accepted channel fee mismatch: our channel fee cost; never settled
)

// ReconAdjustment is what accepting the channel's side of an amount or fee mismatch posted.
// Amount is signed: for AdjustAmount the difference for the merchant, for AdjustFee the
// difference in the platform's channel fee cost.
type ReconAdjustment struct {
	ID           string
	ItemID       int64
	Kind         AdjustKind
	ObjectKind   ObjectKind
	ObjectID     string
	PaymentID    string
	OutNo        string
	MerchantID   string
	Channel      string
	Currency     string
	BusinessDate string
	Seq          int64 // 1, 2, … per object and kind
	Amount       int64
	BatchID      string // the settlement batch that paid it; '' while unsettled (and always for fees)
	CreatedBy    string
	CreatedAt    time.Time
}
