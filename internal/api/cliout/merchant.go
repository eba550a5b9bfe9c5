package cliout

import "time"

// Merchant is the --json form of a merchant (merchant create, show, update, suspend, resume,
// rotate-secret). The bank account is masked; the secret is present only right after create
// and rotate-secret.
type Merchant struct {
	ID                    string      `json:"id"`
	Name                  string      `json:"name"`
	Secret                string      `json:"secret,omitempty"`
	PreviousSecretExpires *time.Time  `json:"previous_secret_expires_at,omitempty"`
	Status                string      `json:"status"`
	FeePlan               FeePlan     `json:"fee_plan"`
	BankAccount           BankAccount `json:"bank_account"`
	NotifyURL             string      `json:"notify_url,omitempty"`
	CreatedAt             time.Time   `json:"created_at"`
	// Audit is the merchant's change history (merchant show only).
	Audit []Audit `json:"audit,omitempty"`
	// ReleasedHolds counts the held batches an update or resume released (update, resume).
	ReleasedHolds *int64 `json:"released_holds,omitempty"`
}

// FeePlan is a merchant's fee plan in minor units; Min and Max are null when unset.
type FeePlan struct {
	RateBps int64  `json:"rate_bps"`
	Fixed   int64  `json:"fixed"`
	Min     *int64 `json:"min"`
	Max     *int64 `json:"max"`
}

// BankAccount is a merchant's settlement account, the number masked.
type BankAccount struct {
	Name      string `json:"name,omitempty"`
	Bank      string `json:"bank,omitempty"`
	AccountNo string `json:"account_no,omitempty"`
}

// Audit is one recorded change to a merchant.
type Audit struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Action string    `json:"action"`
	Field  string    `json:"field,omitempty"`
	Old    string    `json:"old,omitempty"`
	New    string    `json:"new,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// MerchantList is `merchant list --json`.
type MerchantList struct {
	Merchants []Merchant `json:"merchants"`
}

// MerchantAudit is `merchant audit ID --json`.
type MerchantAudit struct {
	Audit      []Audit `json:"audit"`
	MerchantID string  `json:"merchant_id"`
}
