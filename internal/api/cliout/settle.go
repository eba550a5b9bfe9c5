package cliout

import "time"

// Settle is API.md's `settle --json` shape, with what issue 10 added: merchant names, the
// batches on hold, the released batches this date's payout file carries, and what was held
// back from settlement.
type Settle struct {
	Date     string        `json:"date"`
	Batches  []SettleBatch `json:"batches"`
	OnHold   []OnHold      `json:"on_hold"`
	Released []string      `json:"released"`
	HeldBack []HeldBack    `json:"held_back"`
}

// OnHold is a batch (of any date) kept out of payout files: its merchant cannot be paid.
type OnHold struct {
	BatchID      string    `json:"batch_id"`
	MerchantID   string    `json:"merchant_id"`
	MerchantName string    `json:"merchant_name"`
	Currency     string    `json:"currency"`
	Date         string    `json:"date"`
	Net          int64     `json:"net"`
	Reason       string    `json:"reason"`
	HeldAt       time.Time `json:"held_at"`
}

// HeldBack is what settlement left out for a merchant, currency, kind and reason.
type HeldBack struct {
	MerchantID   string `json:"merchant_id"`
	MerchantName string `json:"merchant_name"`
	Currency     string `json:"currency"`
	Kind         string `json:"kind"`
	Reason       string `json:"reason"`
	Count        int64  `json:"count"`
	Amount       int64  `json:"amount"`
}

// SettleBatch is one batch of `settle --json` (and `settle payout --json`).
type SettleBatch struct {
	MerchantID   string `json:"merchant_id"`
	MerchantName string `json:"merchant_name"`
	Currency     string `json:"currency"`
	Payments     int64  `json:"payments"`
	Refunds      int64  `json:"refunds"`
	Gross        int64  `json:"gross"`
	Refunded     int64  `json:"refunded"`
	Fee          int64  `json:"fee"`
	CarriedIn    int64  `json:"carried_in"`
	Net          int64  `json:"net"`
	Status       string `json:"status"`
	HoldReason   string `json:"hold_reason,omitempty"`
}

// MarkPaid is the --json form of mark-paid.
type MarkPaid struct {
	Paid      []string `json:"paid"`      // batches marked paid now
	Unchanged []string `json:"unchanged"` // already paid with the same reference
	Failed    []string `json:"failed"`    // the bank reports the transfer failed: left awaiting payout
}
