package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/outcome"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// Fixture writes merchants, payments and refunds through the store's online entry points
// (InsertPayment, outcome.ApplyPayment, CreateRefund, outcome.ApplyRefund), so statuses, business
// dates, journals and settlement markers are exactly what production writes: no test re-states
// which transactions settlement takes.
type Fixture struct {
	TB  testing.TB
	S   *store.Store
	Loc *time.Location // business dates are computed in it
	Ctx context.Context
}

// NewFixture returns a fixture on s whose business dates are in loc.
func NewFixture(tb testing.TB, s *store.Store, loc *time.Location) *Fixture {
	return &Fixture{TB: tb, S: s, Loc: loc, Ctx: context.Background()}
}

// MerchantOptions describe a merchant for Fixture.Merchant.
type MerchantOptions struct {
	ID        string
	Plan      paygw.FeePlan
	AccountNo string // default 6222021234567890123
}

// Merchant creates a merchant named "Shop <id>" with a bank account, and returns it.
func (f *Fixture) Merchant(o MerchantOptions) paygw.Merchant {
	f.TB.Helper()
	if o.AccountNo == "" {
		o.AccountNo = "6222021234567890123"
	}
	m := paygw.Merchant{ID: o.ID, Name: "Shop " + o.ID, FeePlan: o.Plan,
		BankAccount: paygw.BankAccount{Name: "Shop " + o.ID + " Ltd", Bank: "Test Bank", AccountNo: o.AccountNo},
		CreatedAt:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := f.S.CreateMerchant(f.Ctx, m, "sk_"+o.ID); err != nil {
		f.TB.Fatalf("merchant %s: %v", o.ID, err)
	}
	return m
}

// Payment describes a payment for Fixture.Pay and Fixture.Payments. The zero values of the
// optional fields are the common case.
type Payment struct {
	ID         string
	MerchantID string
	Amount     int64
	Currency   string // default CNY
	Channel    string // default sandbox
	OutTradeNo string // default "o-<id>"
	// ChannelTradeNo is the channel's number (default "ct-<id>"); "-" stores none.
	ChannelTradeNo string
	CreatedAt      time.Time // default a minute before PaidAt
	// PaidAt is when it succeeded; zero leaves the payment processing (sent, never answered).
	PaidAt time.Time
	// Duplicate applies the success twice, as a duplicate callback would.
	Duplicate bool
	// Reconciled marks it reconciled (what a matching reconcile run does).
	Reconciled bool
	// Refunds are created and finished after the payment succeeded, in order.
	Refunds []Refund
}

// Refund describes a refund for Fixture.Refund or Payment.Refunds.
type Refund struct {
	ID          string
	PaymentID   string // set by Payment.Refunds
	Amount      int64
	OutRefundNo string // default "r-<id>"
	// ChannelRefundNo is the channel's number (default "cr-<id>").
	ChannelRefundNo string
	CreatedAt       time.Time // default a second before At
	// At is when the channel answered; zero leaves the refund processing.
	At         time.Time
	Failed     bool // the channel declined it
	Reconciled bool
}

func (p *Payment) defaults() {
	if p.Currency == "" {
		p.Currency = "CNY"
	}
	if p.Channel == "" {
		p.Channel = "sandbox"
	}
	if p.OutTradeNo == "" {
		p.OutTradeNo = "o-" + p.ID
	}
	switch p.ChannelTradeNo {
	case "":
		p.ChannelTradeNo = "ct-" + p.ID
	case "-":
		p.ChannelTradeNo = ""
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = p.PaidAt.Add(-time.Minute)
	}
}

// Pay writes one payment (and its refunds) and returns it as stored.
func (f *Fixture) Pay(p Payment) paygw.Payment {
	f.TB.Helper()
	f.Payments(p)
	got, err := f.S.GetPayment(f.Ctx, p.ID)
	if err != nil {
		f.TB.Fatal(err)
	}
	return got
}

// paymentsPerTx is how many payments Payments writes per transaction.
const paymentsPerTx = 1000

// Payments writes many payments, paymentsPerTx per transaction, then their refunds; any error
// fails the test.
func (f *Fixture) Payments(ps ...Payment) {
	f.TB.Helper()
	for start := 0; start < len(ps); start += paymentsPerTx {
		chunk := ps[start:min(start+paymentsPerTx, len(ps))]
		for i := range chunk {
			chunk[i].defaults()
		}
		err := f.S.Transact(f.Ctx, func(tx *store.Tx) error {
			for _, p := range chunk {
				if err := f.insertPayment(tx, p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			f.TB.Fatalf("payments: %v", err)
		}
		for _, p := range chunk {
			if p.Reconciled {
				if err := f.S.MarkReconciled(f.Ctx, []string{p.ID}, p.PaidAt); err != nil {
					f.TB.Fatal(err)
				}
			}
			for _, r := range p.Refunds {
				r.PaymentID = p.ID
				if err := f.Refund(r); err != nil {
					f.TB.Fatalf("refund %s of %s: %v", r.ID, p.ID, err)
				}
			}
		}
	}
}

func (f *Fixture) insertPayment(tx *store.Tx, p Payment) error {
	dp := paygw.Payment{ID: p.ID, MerchantID: p.MerchantID, OutTradeNo: p.OutTradeNo, Amount: p.Amount,
		Currency: money.Currency(p.Currency), PayMethod: paygw.PayMethodWalletQR, RequestHash: "h",
		Status: paygw.PaymentProcessing, Channel: p.Channel, CreatedAt: p.CreatedAt}
	if err := tx.InsertPayment(f.Ctx, dp); err != nil {
		return fmt.Errorf("payment %s: %w", p.ID, err)
	}
	if p.PaidAt.IsZero() {
		return nil
	}
	for range 1 + b2i(p.Duplicate) {
		if _, _, err := outcome.ApplyPaymentTx(f.Ctx, tx, p.ID, outcome.Payment{Status: paygw.PaymentSucceeded,
			ChannelTradeNo: p.ChannelTradeNo, PaidAt: p.PaidAt}, p.PaidAt, f.Loc); err != nil {
			return fmt.Errorf("payment %s succeeded: %w", p.ID, err)
		}
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Refund creates a refund of r.PaymentID and finishes it at r.At (succeeded, or failed when
// r.Failed). It returns the store's error (an over-refund is one) rather than failing the test.
func (f *Fixture) Refund(r Refund) error {
	p, err := f.S.GetPayment(f.Ctx, r.PaymentID)
	if err != nil {
		return err
	}
	if r.OutRefundNo == "" {
		r.OutRefundNo = "r-" + r.ID
	}
	if r.ChannelRefundNo == "" {
		r.ChannelRefundNo = "cr-" + r.ID
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = r.At.Add(-time.Second)
	}
	dr := paygw.Refund{ID: r.ID, PaymentID: r.PaymentID, MerchantID: p.MerchantID, OutRefundNo: r.OutRefundNo, Amount: r.Amount,
		Currency: p.Currency, RequestHash: "h", Status: paygw.RefundProcessing, Channel: p.Channel, CreatedAt: r.CreatedAt}
	if err := f.S.CreateRefund(f.Ctx, dr); err != nil {
		return err
	}
	if r.At.IsZero() {
		return nil
	}
	o := outcome.Refund{Status: paygw.RefundSucceeded, ChannelRefundNo: r.ChannelRefundNo, SucceededAt: r.At}
	if r.Failed {
		o = outcome.Refund{Status: paygw.RefundFailed, FailReason: "declined"}
	}
	if _, _, err := outcome.ApplyRefund(f.Ctx, f.S, r.ID, o, r.At, f.Loc); err != nil {
		return err
	}
	if r.Reconciled {
		return f.S.MarkReconciled(f.Ctx, []string{r.ID}, r.At)
	}
	return nil
}
