package paygw

import "time"

// SettleStatus is a settlement batch's stored state.
type SettleStatus string

// The batch states.
const (
	SettleSettled SettleStatus = "settled" // net > 0, awaiting payout
	SettleCarried SettleStatus = "carried" // net <= 0, carried into the merchant's next batch
	SettlePaid    SettleStatus = "paid"    // payout confirmed by the bank
)

// SettleBatch is one merchant's settlement of one currency for one date, chained to its
// previous batch (whose negative net it carries in).
type SettleBatch struct {
	ID          string
	MerchantID  string
	Currency    string
	Date        string
	PrevBatchID string // '' for the merchant's first batch in the currency
	Payments    int64
	Refunds     int64
	Gross       int64
	Refunded    int64
	Fee         int64
	CarriedIn   int64
	Net         int64
	Status      SettleStatus
	BankRef     string
	PaidAt      *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SettleItem is one payment or refund in a batch, with the fee recorded for it.
type SettleItem struct {
	ObjectID     string
	BatchID      string
	Kind         ObjectKind
	PaymentID    string
	OutNo        string
	BusinessDate string
	Amount       int64
	Fee          int64
}

// SettleHold is a settled batch kept out of payout files because its merchant cannot be paid.
type SettleHold struct {
	BatchID    string
	MerchantID string
	Reason     string
	HeldAt     time.Time
	ReleasedAt *time.Time
	// PayoutDate is the date of the payout file that carries the released batch ('' while none
	// does).
	PayoutDate string
}

// Released reports whether the hold was lifted.
func (h SettleHold) Released() bool { return h.ReleasedAt != nil }
