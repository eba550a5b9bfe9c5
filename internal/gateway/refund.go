package gateway

import (
	"context"
	"errors"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/outcome"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// CreateRefund refunds part or all of a paid payment, idempotent on out_refund_no. The amount
// is reserved on the payment in the database first, so concurrent refunds can never exceed it.
func (g *Service) CreateRefund(ctx context.Context, merchantID, paymentID string, req CreateRefund) (paygw.Refund, bool, error) {
	v, err := ValidateRefund(paymentID, req)
	if err != nil {
		return paygw.Refund{}, false, err
	}
	p, err := g.GetPayment(ctx, merchantID, paymentID)
	if err != nil {
		return paygw.Refund{}, false, err
	}
	if existing, err := g.store.GetRefundByOutRefundNo(ctx, merchantID, v.OutRefundNo); err == nil {
		return g.idempotentRefund(existing, v.Hash)
	} else if !errors.Is(err, store.ErrNotFound) {
		return paygw.Refund{}, false, err
	}
	now := g.now()
	next := now.Add(g.cfg.Sweeper.Schedule[0].D())
	r := paygw.Refund{
		ID: paygw.NewID("ref"), PaymentID: p.ID, MerchantID: merchantID, OutRefundNo: v.OutRefundNo, Amount: v.Amount,
		Currency: p.Currency, Reason: v.Reason, NotifyURL: v.NotifyURL, RequestHash: v.Hash,
		Status: paygw.RefundProcessing, Channel: p.Channel, CreatedAt: store.Now(now), NextQueryAt: &next,
	}
	err = g.store.CreateRefund(ctx, r)
	switch {
	case store.IsUnique(err, store.RefundOutRefundNoKey...):
		existing, gerr := g.store.GetRefundByOutRefundNo(ctx, merchantID, v.OutRefundNo)
		if gerr != nil {
			return paygw.Refund{}, false, gerr
		}
		return g.idempotentRefund(existing, v.Hash)
	case errors.Is(err, store.ErrRefundExceeds):
		return paygw.Refund{}, false, paygw.Errorf(paygw.CodeRefundExceedsAmount,
			"refund of %d exceeds what is left to refund of payment %s", v.Amount, p.ID)
	case errors.Is(err, store.ErrPaymentNotRefundable):
		return paygw.Refund{}, false, paygw.Errorf(paygw.CodeInvalidState, "payment is %s and cannot be refunded", p.Status)
	case err != nil:
		return paygw.Refund{}, false, err
	}
	ctx = context.WithoutCancel(ctx) // the refund is recorded and reserved: see it through
	ch, err := g.channel(p.Channel)
	if err != nil {
		return r, true, err
	}
	var res channel.RefundResult
	start := g.now()
	err = g.router.Call(ctx, p.Channel, "refund", func() error {
		var e error
		res, e = ch.Refund(ctx, channel.RefundRequest{
			PaymentID: p.ID, ChannelTradeNo: p.ChannelTradeNo, RefundID: r.ID, PaymentAmount: p.Amount, Amount: r.Amount,
			Currency: r.Currency, Reason: r.Reason, NotifyURL: g.notifyURL(p.Channel),
		})
		return e
	})
	g.record(ctx, g.attempt(p.ID, r.ID, p.Channel, "refund", res.Status, err, start))
	switch {
	case err == nil:
		out, err := g.applyRefundResult(ctx, r, res)
		return out, true, err
	case notExecuted(err):
		out, _, aerr := outcome.ApplyRefund(ctx, g.store, r.ID, outcome.Refund{Status: paygw.RefundFailed, FailReason: trim(err.Error())}, g.now(), g.cfg.Location())
		return out, true, aerr
	default:
		// Unknown outcome: the sweeper queries the channel.
		g.logger(ctx).Warn().Str("refund_id", r.ID).Err(err).Msg("refund outcome unknown; will query")
		out, gerr := g.store.GetRefund(ctx, r.ID)
		return out, true, gerr
	}
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

func (g *Service) idempotentRefund(existing paygw.Refund, hash string) (paygw.Refund, bool, error) {
	if existing.RequestHash != hash {
		return paygw.Refund{}, false, paygw.Errorf(paygw.CodeIdempotencyConflict,
			"out_refund_no %s was used for a different request", existing.OutRefundNo)
	}
	return existing, false, nil
}

func (g *Service) applyRefundResult(ctx context.Context, r paygw.Refund, res channel.RefundResult) (paygw.Refund, error) {
	switch res.Status {
	case channel.StatusSucceeded:
		out, _, err := outcome.ApplyRefund(ctx, g.store, r.ID, outcome.Refund{Status: paygw.RefundSucceeded,
			ChannelRefundNo: res.ChannelRefundNo, SucceededAt: res.SucceededAt}, g.now(), g.cfg.Location())
		return out, err
	case channel.StatusFailed:
		out, _, err := outcome.ApplyRefund(ctx, g.store, r.ID, outcome.Refund{Status: paygw.RefundFailed,
			ChannelRefundNo: res.ChannelRefundNo, FailReason: res.Reason}, g.now(), g.cfg.Location())
		return out, err
	default:
		next := g.now().Add(g.cfg.Sweeper.Schedule[0].D())
		if err := g.store.MarkRefundSent(ctx, r.ID, res.ChannelRefundNo, &next, g.now()); err != nil {
			return r, err
		}
		return g.store.GetRefund(ctx, r.ID)
	}
}

// GetRefund returns a merchant's refund.
func (g *Service) GetRefund(ctx context.Context, merchantID, id string) (paygw.Refund, error) {
	r, err := g.store.GetMerchantRefund(ctx, merchantID, id)
	return r, notFound(err, "refund")
}
