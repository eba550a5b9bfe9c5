package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/outcome"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// CreatePayment runs the create flow: validate ∥ risk, route, record, call the channel, update.
// created=false means the same request was seen before and the existing payment is returned.
// nonce, when not nil, is the request's deferred nonce: recorded in the transaction that
// records the payment, or on its own when the request ends before that.
func (g *Service) CreatePayment(ctx context.Context, merchantID string, req CreatePayment, clientIP string, nonce *Nonce) (paygw.Payment, bool, error) {
	used := false
	p, created, err := g.createPayment(ctx, merchantID, req, clientIP, nonce, &used)
	if nonce != nil && !used {
		if nerr := g.useNonce(ctx, nonce); nerr != nil {
			return paygw.Payment{}, false, nerr
		}
	}
	return p, created, err
}

func (g *Service) createPayment(ctx context.Context, merchantID string, req CreatePayment, clientIP string, nonce *Nonce, used *bool) (paygw.Payment, bool, error) {
	now := g.now()
	var agr *paygw.Agreement
	if req.AgreementID != nil && *req.AgreementID != "" {
		a, err := g.paymentAgreement(ctx, merchantID, *req.AgreementID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return paygw.Payment{}, false, err
		}
		if err == nil {
			agr = &a
		}
	}
	// Validation and the risk rules are independent: run them concurrently. A validation error
	// wins over a risk rejection (the request was malformed before it was risky).
	var v ValidPayment
	var verr, rerr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in := RiskInput{MerchantID: merchantID, Currency: req.Currency, ClientIP: clientIP, Now: now}
		in.Amount, _ = amountOf(req.Amount)
		if agr != nil {
			in.PayerToken, in.PayerAccount = agr.AccountToken, agr.AccountToken
		}
		rerr = g.risk.Check(ctx, in)
	}()
	v, verr = ValidatePayment(req)
	if verr == nil && v.PayMethod.NeedsAgreement() {
		switch {
		case agr == nil:
			verr = paygw.Errorf(paygw.CodeInvalidRequest, "agreement_id: no such agreement")
		case agr.PayMethod != v.PayMethod:
			verr = paygw.Errorf(paygw.CodeInvalidRequest, "agreement_id: agreement is for %s, not %s", agr.PayMethod, v.PayMethod)
		case agr.Status != paygw.AgreementActive:
			verr = paygw.Errorf(paygw.CodeInvalidState, "agreement is %s", agr.Status)
		}
	}
	wg.Wait()
	if verr != nil {
		return paygw.Payment{}, false, verr
	}
	only := ""
	if agr != nil {
		only = agr.Channel
	}
	cands := g.router.Candidates(v.PayMethod, v.Amount, string(v.Currency), only)
	// Idempotency first: a repeated request answers with the stored payment even if the
	// risk rules or the channels would now say otherwise. When they say nothing against it,
	// the unique key of the insert below finds a repeat without a read on every create.
	if rerr != nil || len(cands) == 0 {
		if existing, err := g.store.GetPaymentByOutTradeNo(ctx, merchantID, v.OutTradeNo); err == nil {
			return g.idempotent(existing, v.Hash)
		} else if !errors.Is(err, store.ErrNotFound) {
			return paygw.Payment{}, false, err
		}
	}
	if rerr != nil {
		return paygw.Payment{}, false, rerr
	}
	if len(cands) == 0 {
		if err := g.router.Unroutable(v.PayMethod, v.Amount, string(v.Currency), only); err != nil {
			return paygw.Payment{}, false, err
		}
		return paygw.Payment{}, false, paygw.Errorf(paygw.CodeNoChannelAvailable, "no channel available for %s %s", v.PayMethod, v.Currency)
	}
	exp := now.Add(time.Duration(v.ExpiresIn) * time.Second)
	p := paygw.Payment{
		ID: paygw.NewID("pay"), MerchantID: merchantID, OutTradeNo: v.OutTradeNo, Amount: v.Amount, Currency: v.Currency,
		PayMethod: v.PayMethod, Subject: v.Subject, NotifyURL: v.NotifyURL, ReturnURL: v.ReturnURL, ExpiresAt: &exp,
		AgreementID: v.AgreementID, Metadata: v.Metadata, RequestHash: v.Hash, Status: paygw.PaymentCreated,
		Channel: cands[0], ClientIP: clientIP, CreatedAt: store.Now(now), UpdatedAt: store.Now(now),
		Version: 1, // a new payment's version (store: InsertPayment)
	}
	if v.ClientIP != "" {
		p.ClientIP = v.ClientIP // the payer's own address, as the merchant saw it
	}
	if agr != nil {
		p.PayerAccount = agr.AccountToken
	}
	// A created payment that nothing finishes (the process dies before the channel answers) is
	// picked up by the sweeper after the first query delay.
	first := now.Add(g.cfg.Sweeper.Schedule[0].D())
	p.NextQueryAt = &first
	// Record before calling the channel. The unique key decides concurrent duplicates.
	err := g.recordPayment(ctx, p, nonce, now)
	if err == nil || errors.Is(err, errReplayed) {
		*used = nonce != nil
	}
	if errors.Is(err, errReplayed) {
		return paygw.Payment{}, false, err
	}
	if errors.Is(err, store.ErrAgreementInactive) {
		// Terminated since this process read it (perhaps by another replica): nothing was
		// written, and the merchant hears the agreement's state as when it was read here.
		return paygw.Payment{}, false, g.inactiveAgreement(ctx, merchantID, p.AgreementID)
	}
	if store.IsUnique(err, store.PaymentOutTradeNoKey...) {
		existing, gerr := g.store.GetPaymentByOutTradeNo(ctx, merchantID, v.OutTradeNo)
		if gerr != nil {
			return paygw.Payment{}, false, gerr
		}
		return g.idempotent(existing, v.Hash)
	}
	if err != nil {
		return paygw.Payment{}, false, err
	}
	g.metrics.payment(string(paygw.PaymentCreated), p.Channel)
	// The payment is recorded: from here the channel call and its outcome are seen through even
	// if the merchant goes away (bounded by the channel timeout), so nothing is left half done.
	out, err := g.pay(context.WithoutCancel(ctx), p, agr, v.PayerOpenID, cands)
	return out, true, err
}

// recordPayment stores a new payment with the request's nonce (errReplayed: already used) and,
// when the daily cap is on, its reservation, in one transaction. Without a cap it is one store
// call (one statement on PostgreSQL).
func (g *Service) recordPayment(ctx context.Context, p paygw.Payment, nonce *Nonce, now time.Time) error {
	var n *store.NonceUse
	if nonce != nil {
		n = &store.NonceUse{MerchantID: nonce.MerchantID, Nonce: nonce.Value, Expires: nonce.Expires}
	}
	if g.risk.cfg.DailyCap <= 0 {
		fresh, err := g.store.InsertPaymentWithNonce(ctx, p, n, now)
		if err == nil && !fresh {
			return errReplayed
		}
		return err
	}
	return g.store.Transact(ctx, func(tx *store.Tx) error {
		fresh, err := tx.InsertPaymentWithNonce(ctx, p, n, now)
		if err != nil {
			return err
		}
		if !fresh {
			return errReplayed
		}
		return g.risk.reserveDailyCap(ctx, tx, p, now)
	})
}

// inactiveAgreement forgets an agreement a payment found not active and says what it is now.
func (g *Service) inactiveAgreement(ctx context.Context, merchantID, id string) error {
	g.agreements.drop(merchantID, id)
	a, err := g.store.GetMerchantAgreement(ctx, merchantID, id)
	if err != nil {
		return err
	}
	return paygw.Errorf(paygw.CodeInvalidState, "agreement is %s", a.Status)
}

func (g *Service) idempotent(existing paygw.Payment, hash string) (paygw.Payment, bool, error) {
	if existing.RequestHash != hash {
		return paygw.Payment{}, false, paygw.Errorf(paygw.CodeIdempotencyConflict,
			"out_trade_no %s was used for a different request", existing.OutTradeNo)
	}
	return existing, false, nil
}

// pay calls the channels in order; it fails over only on a definite non-execution (not sent,
// breaker open). A payer's decline is a failed result: the payment fails on that channel. An
// unknown outcome is queried.
func (g *Service) pay(ctx context.Context, p paygw.Payment, agr *paygw.Agreement, openID string, cands []string) (paygw.Payment, error) {
	done := make(chan struct{})
	g.paying.Store(p.ID, done)
	defer func() { g.paying.Delete(p.ID); close(done) }()
	var lastErr error
	for i, name := range cands {
		if i > 0 {
			if err := g.store.SwitchPaymentChannel(ctx, p.ID, name, g.now()); err != nil {
				return g.reload(ctx, p.ID)
			}
			p.Channel, p.Version = name, p.Version+1 // the switch moved the version
		}
		ch, err := g.channel(name)
		if err != nil {
			return p, err
		}
		req := channel.PayRequest{
			PaymentID: p.ID, Amount: p.Amount, Currency: p.Currency, PayMethod: string(p.PayMethod), Subject: p.Subject,
			NotifyURL: g.notifyURL(name), ReturnURL: p.ReturnURL, ExpiresAt: *p.ExpiresAt,
			PayerOpenID: openID, PayerIP: p.ClientIP,
		}
		if agr != nil {
			req.AgreementNo = agr.ChannelNo
		}
		var res channel.PayResult
		start := g.now()
		err = g.router.Call(ctx, name, "pay", func() error {
			var e error
			res, e = ch.Pay(ctx, req)
			return e
		})
		att := g.attempt(p.ID, "", name, "pay", res.Status, err, start)
		if err == nil {
			return g.applyPayResult(ctx, p, res, att)
		}
		if notExecuted(err) {
			g.record(ctx, att)
			lastErr = err
			g.logger(ctx).Info().Str("payment_id", p.ID).Str("channel", name).Err(err).Msg("channel did not execute; trying the next")
			continue
		}
		// Unknown outcome: the payer may have been charged. Never fail over; the sweeper queries.
		g.logger(ctx).Warn().Str("payment_id", p.ID).Str("channel", name).Err(err).Msg("unknown outcome; will query")
		next := g.now().Add(g.cfg.Sweeper.Schedule[0].D())
		if _, err := g.store.MarkPaymentSent(ctx, p.ID, store.ChannelUpdate{Channel: name, Status: paygw.PaymentProcessing, NextQueryAt: &next, Attempt: att}, g.now()); err != nil {
			return p, err
		}
		g.metrics.payment(string(paygw.PaymentProcessing), name)
		return g.reload(ctx, p.ID)
	}
	reason := "declined by every channel"
	if lastErr != nil {
		reason = lastErr.Error()
		if len(reason) > 200 {
			reason = reason[:200]
		}
	}
	out, _, err := g.apply(ctx, p.ID, outcome.Payment{Status: paygw.PaymentFailed, FailReason: reason})
	return out, err
}

// applyPayResult records a channel's answer to pay.
func (g *Service) applyPayResult(ctx context.Context, p paygw.Payment, res channel.PayResult, att *store.ChannelAttempt) (paygw.Payment, error) {
	switch res.Status {
	case channel.StatusSucceeded, channel.StatusFailed, channel.StatusClosed:
		o := outcomeOf(res)
		o.Attempt = att
		return g.applyFrom(ctx, p, o)
	default:
		// Awaiting the payer (redirect: queried early and then on the redirect schedule until it
		// expires, so a lost callback is found soon) or the channel (the first sweep delay).
		next := g.nextPaymentQuery(p, 0)
		if _, err := g.store.MarkPaymentSent(ctx, p.ID, store.ChannelUpdate{
			Channel: p.Channel, ChannelTradeNo: res.ChannelTradeNo, PayURL: res.PayURL, NextAction: res.NextAction,
			Status: paygw.PaymentProcessing, NextQueryAt: next, Attempt: att,
		}, g.now()); err != nil {
			return p, err
		}
		g.metrics.payment(string(paygw.PaymentProcessing), p.Channel)
		return g.reload(ctx, p.ID)
	}
}

// apply moves a payment to an outcome (journal and notification in the same transaction) and
// counts the new status.
func (g *Service) apply(ctx context.Context, id string, o outcome.Payment) (paygw.Payment, bool, error) {
	out, changed, err := outcome.ApplyPayment(ctx, g.store, id, o, g.now(), g.cfg.Location())
	if err == nil {
		g.done.add(out)
		if changed {
			g.metrics.payment(string(out.Status), out.Channel)
		}
	}
	return out, changed, err
}

// applyFrom is apply for a payment p as recorded before the channel call: the outcome's whole
// write set is computed from p and stored at once (a callback that got there first is seen by
// the version check and the outcome applied from the current row).
func (g *Service) applyFrom(ctx context.Context, p paygw.Payment, o outcome.Payment) (paygw.Payment, error) {
	out, changed, err := outcome.ApplyPaymentFrom(ctx, g.store, p, o, g.now(), g.cfg.Location())
	if err == nil {
		g.done.add(out)
		if changed {
			g.metrics.payment(string(out.Status), out.Channel)
		}
	}
	return out, err
}

func outcomeOf(res channel.PayResult) outcome.Payment {
	o := outcome.Payment{ChannelTradeNo: res.ChannelTradeNo, PaidAt: res.PaidAt, FailReason: res.Reason}
	switch res.Status {
	case channel.StatusSucceeded:
		o.Status = paygw.PaymentSucceeded
	case channel.StatusFailed:
		o.Status = paygw.PaymentFailed
	case channel.StatusClosed:
		o.Status = paygw.PaymentClosed
	}
	return o
}

func (g *Service) reload(ctx context.Context, id string) (paygw.Payment, error) {
	return g.store.GetPayment(ctx, id)
}

// attempt describes a finished channel call for the channel_attempts table.
func (g *Service) attempt(paymentID, refundID, ch, op string, st channel.Status, err error, start time.Time) *store.ChannelAttempt {
	outcome := string(st)
	msg := ""
	switch {
	case err == nil && outcome == "":
		outcome = "succeeded"
	case err != nil && notExecuted(err):
		outcome, msg = "declined", err.Error()
	case err != nil:
		outcome, msg = "unknown", err.Error()
	}
	if len(msg) > 500 {
		msg = msg[:500]
	}
	end := g.now()
	return &store.ChannelAttempt{PaymentID: paymentID, RefundID: refundID, Channel: ch, Operation: op, Outcome: outcome,
		Error: msg, Latency: end.Sub(start), StartedAt: start, FinishedAt: end}
}

// record stores an attempt on its own, when no state change follows it; a failure to record
// is logged, never fatal to the payment.
func (g *Service) record(ctx context.Context, a *store.ChannelAttempt) {
	if err := g.store.RecordAttempt(context.WithoutCancel(ctx), *a); err != nil {
		g.logger(ctx).Error().Err(err).Str("payment_id", a.PaymentID).Msg("record channel attempt")
	}
}

// GetPayment returns a merchant's payment.
func (g *Service) GetPayment(ctx context.Context, merchantID, id string) (paygw.Payment, error) {
	p, err := g.store.GetMerchantPayment(ctx, merchantID, id)
	return p, notFound(err, "payment")
}

// GetPaymentByOutTradeNo returns a merchant's payment by out_trade_no.
func (g *Service) GetPaymentByOutTradeNo(ctx context.Context, merchantID, outTradeNo string) (paygw.Payment, error) {
	p, err := g.store.GetPaymentByOutTradeNo(ctx, merchantID, outTradeNo)
	return p, notFound(err, "payment")
}

// ClosePayment closes an unpaid payment, only once the channel confirms it was not paid.
// Closing a closed payment again answers it unchanged.
func (g *Service) ClosePayment(ctx context.Context, merchantID, id string) (paygw.Payment, error) {
	p, err := g.GetPayment(ctx, merchantID, id)
	if err != nil {
		return p, err
	}
	switch {
	case p.Status == paygw.PaymentClosed:
		return p, nil
	case p.Status.Final():
		return p, paygw.Errorf(paygw.CodeInvalidState, "payment is %s and cannot be closed", p.Status)
	}
	return g.closeAtChannel(context.WithoutCancel(ctx), p, "closed by merchant")
}

// closeAtChannel asks the channel to close; if the channel says it was paid, the payment
// becomes succeeded instead and the close is refused.
func (g *Service) closeAtChannel(ctx context.Context, p paygw.Payment, reason string) (paygw.Payment, error) {
	ch, err := g.channel(p.Channel)
	if err != nil {
		return p, err
	}
	start := g.now()
	err = g.router.Call(ctx, p.Channel, "close", func() error { return ch.ClosePayment(ctx, p.ID) })
	att := g.attempt(p.ID, "", p.Channel, "close", channel.StatusClosed, err, start)
	switch {
	case err == nil:
		out, changed, err := g.apply(ctx, p.ID, outcome.Payment{Status: paygw.PaymentClosed, FailReason: reason, Attempt: att})
		if err != nil {
			return out, err
		}
		if !changed && out.Status != paygw.PaymentClosed {
			return out, paygw.Errorf(paygw.CodeInvalidState, "payment became %s before it could be closed", out.Status)
		}
		return out, nil
	case errors.Is(err, channel.ErrAlreadyPaid):
		g.record(ctx, att)
		out, err := g.queryAndApply(ctx, p)
		if err != nil {
			return out, err
		}
		return out, paygw.Errorf(paygw.CodeInvalidState, "payment was paid and cannot be closed")
	default:
		g.record(ctx, att)
		return p, &paygw.Error{Code: paygw.CodeInternal, Message: "channel could not confirm the close; retry later", Err: err}
	}
}

// queryAndApply asks the channel for the payment's state and applies a final answer.
func (g *Service) queryAndApply(ctx context.Context, p paygw.Payment) (paygw.Payment, error) {
	ch, err := g.channel(p.Channel)
	if err != nil {
		return p, err
	}
	var res channel.PayResult
	start := g.now()
	err = g.router.Call(ctx, p.Channel, "query", func() error {
		var e error
		res, e = ch.QueryPayment(ctx, p.ID)
		return e
	})
	att := g.attempt(p.ID, "", p.Channel, "query", res.Status, err, start)
	if err != nil {
		g.record(ctx, att)
		return p, err
	}
	switch res.Status {
	case channel.StatusSucceeded, channel.StatusFailed, channel.StatusClosed:
		o := outcomeOf(res)
		o.Attempt = att
		return g.applyFrom(ctx, p, o)
	}
	g.record(ctx, att)
	return p, nil
}
