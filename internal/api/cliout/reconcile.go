package cliout

// Reconcile is API.md's `reconcile --json` object.
type Reconcile struct {
	RunID         string           `json:"run_id"`
	Channel       string           `json:"channel"`
	Date          string           `json:"date"`
	Skipped       bool             `json:"skipped,omitempty"`
	File          string           `json:"file,omitempty"`
	FileSHA256    string           `json:"file_sha256,omitempty"`
	Report        string           `json:"report,omitempty"`
	Counts        map[string]int64 `json:"counts"`
	Discrepancies int64            `json:"discrepancies"`
	Items         []ReconItem      `json:"items"`
}

// ReconItem is one reconciliation item: a match or a discrepancy, and its resolution.
type ReconItem struct {
	ID              int64  `json:"id"`
	Class           string `json:"class"`
	Kind            string `json:"kind"`
	State           string `json:"state"`
	ChannelTradeNo  string `json:"channel_trade_no"`
	ChannelRefundNo string `json:"channel_refund_no,omitempty"`
	PaymentID       string `json:"payment_id"`
	RefundID        string `json:"refund_id"`
	Currency        string `json:"currency"`
	InternalAmount  int64  `json:"internal_amount"`
	ChannelAmount   int64  `json:"channel_amount"`
	InternalFee     int64  `json:"internal_fee"`
	ChannelFee      int64  `json:"channel_fee"`
	Line            int64  `json:"line,omitempty"`
	Note            string `json:"note"`
	BusinessDate    string `json:"date,omitempty"`
	Resolution      string `json:"resolution,omitempty"`
	ResolvedBy      string `json:"resolved_by,omitempty"`
	ResolutionNote  string `json:"resolution_note,omitempty"`
	// Adjustment is what `resolve --accept channel` posted for an amount or fee mismatch.
	Adjustment *Adjustment `json:"adjustment,omitempty"`
}

// Adjustment is a posted reconciliation adjustment (docs/reconciliation.md).
type Adjustment struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"` // amount (settled to the merchant) | fee (our channel fee cost)
	ObjectID string `json:"object_id"`
	Currency string `json:"currency"`
	Amount   int64  `json:"amount"` // signed minor units
}
