package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// SignAgreement binds a payer's account to the merchant at a channel offering the pay method.
// The full account number goes to the channel only; paygw keeps it masked and as a keyed token.
// Idempotent on out_agreement_no.
func (g *Service) SignAgreement(ctx context.Context, merchantID string, req SignAgreement) (paygw.Agreement, bool, error) {
	pm, err := ValidateAgreement(req)
	if err != nil {
		return paygw.Agreement{}, false, err
	}
	token := g.store.Keys().Token(req.Payer.AccountNo)
	if existing, err := g.store.GetAgreementByOutNo(ctx, merchantID, req.OutAgreementNo); err == nil {
		out, created, err := g.idempotentAgreement(existing, token, pm)
		return g.withSignAction(ctx, out), created, err
	} else if !errors.Is(err, store.ErrNotFound) {
		return paygw.Agreement{}, false, err
	}
	cands := g.router.Candidates(pm, 1, "", "")
	if len(cands) == 0 {
		return paygw.Agreement{}, false, paygw.Errorf(paygw.CodeNoChannelAvailable, "no channel available for %s", pm)
	}
	now := g.now()
	// Findable by the sweeper from the moment it is stored: if this process dies before the
	// channel answers, the sweeper asks the channel what became of it.
	first := now.Add(g.cfg.Sweeper.Schedule[0].D())
	a := paygw.Agreement{
		ID: paygw.NewID("agr"), MerchantID: merchantID, OutAgreementNo: req.OutAgreementNo, PayMethod: pm,
		Status: paygw.AgreementPending, Channel: cands[0], PayerName: req.Payer.Name,
		AccountMasked: paygw.MaskAccount(req.Payer.AccountNo), PhoneMasked: paygw.MaskPhone(req.Payer.Phone),
		AccountToken: token, CreatedAt: store.Now(now), UpdatedAt: store.Now(now), NextQueryAt: &first,
	}
	if err := g.store.InsertAgreement(ctx, a); err != nil {
		if store.IsUnique(err, store.AgreementOutNoKey...) {
			existing, gerr := g.store.GetAgreementByOutNo(ctx, merchantID, req.OutAgreementNo)
			if gerr != nil {
				return paygw.Agreement{}, false, gerr
			}
			return g.idempotentAgreement(existing, token, pm)
		}
		return paygw.Agreement{}, false, err
	}
	// The agreement is recorded: from here the channel call and its outcome are seen through even
	// if the merchant disconnects (bounded by the channel adapter's timeout), as for payments.
	ctx = context.WithoutCancel(ctx)
	ch, err := g.channel(a.Channel)
	if err != nil {
		return a, true, err
	}
	var res channel.SignResult
	err = g.router.Call(ctx, a.Channel, "sign", func() error {
		var e error
		res, e = ch.Sign(ctx, channel.SignRequest{AgreementID: a.ID, PayMethod: string(pm), PayerName: req.Payer.Name,
			AccountNo: req.Payer.AccountNo, Phone: req.Payer.Phone})
		return e
	})
	switch {
	case err == nil && res.Status == channel.StatusSucceeded:
		err = g.finishAgreement(ctx, a, paygw.AgreementActive, res.AgreementNo)
	case err == nil && res.Status == channel.StatusProcessing:
		// The payer signs at the channel: pending until the channel says otherwise (its
		// callback, or the sweeper's query at the scheduled time).
	case err == nil || notExecuted(err):
		g.logger(ctx).Info().Str("agreement_id", a.ID).Err(err).Str("reason", res.Reason).Msg("agreement refused by the channel")
		err = g.finishAgreement(ctx, a, paygw.AgreementTerminated, res.AgreementNo)
	default:
		// Unknown outcome: the channel may have bound the account. It stays pending; the sweeper
		// queries it at its scheduled time.
		g.logger(ctx).Warn().Str("agreement_id", a.ID).Err(err).Msg("agreement outcome unknown; will query")
		err = nil
	}
	if err != nil {
		return a, true, err
	}
	out, gerr := g.store.GetMerchantAgreement(ctx, merchantID, a.ID)
	if gerr != nil {
		return out, true, gerr
	}
	return g.withSignAction(ctx, out), true, nil
}

func (g *Service) finishAgreement(ctx context.Context, a paygw.Agreement, to paygw.AgreementStatus, channelNo string) error {
	_, err := g.store.UpdateAgreementStatus(ctx, a.ID, paygw.AgreementPending, to, channelNo, g.now())
	return err
}

// idempotentAgreement answers a repeated sign request: the same account and method get the
// stored agreement, anything else is an idempotency conflict.
func (g *Service) idempotentAgreement(existing paygw.Agreement, token string, pm paygw.PayMethod) (paygw.Agreement, bool, error) {
	if existing.AccountToken != token || existing.PayMethod != pm {
		return paygw.Agreement{}, false, paygw.Errorf(paygw.CodeIdempotencyConflict,
			"out_agreement_no %s was used for a different request", existing.OutAgreementNo)
	}
	return existing, false, nil
}

// GetAgreement returns a merchant's agreement. A pending agreement of a channel where the payer
// signs is first asked about at the channel (its callback may have been lost), and carries the
// signing page as next_action while still pending.
func (g *Service) GetAgreement(ctx context.Context, merchantID, id string) (paygw.Agreement, error) {
	a, err := g.store.GetMerchantAgreement(ctx, merchantID, id)
	if err != nil {
		return a, notFound(err, "agreement")
	}
	a, err = g.refreshAgreement(ctx, a)
	if err != nil {
		return a, err
	}
	return g.withSignAction(ctx, a), nil
}

// asyncAgreements returns the channel of an agreement when the payer signs there.
func (g *Service) asyncAgreements(name string) (channel.AsyncAgreements, bool) {
	ch, ok := g.channels.Get(name)
	if !ok {
		return nil, false
	}
	aa, ok := ch.(channel.AsyncAgreements)
	return aa, ok
}

// refreshAgreement asks the channel about a pending agreement and applies a final answer. A
// failed query leaves the agreement as it is (logged): reading it must not fail for that.
func (g *Service) refreshAgreement(ctx context.Context, a paygw.Agreement) (paygw.Agreement, error) {
	aa, ok := g.asyncAgreements(a.Channel)
	if a.Status != paygw.AgreementPending || !ok {
		return a, nil
	}
	var res channel.AgreementResult
	err := g.router.Call(ctx, a.Channel, "query_agreement", func() error {
		var e error
		res, e = aa.QueryAgreement(ctx, a.ID)
		return e
	})
	if err != nil {
		g.logger(ctx).Warn().Str("agreement_id", a.ID).Err(err).Msg("agreement query failed")
		return a, nil
	}
	if err := g.applyAgreement(ctx, a, res); err != nil {
		return a, err
	}
	return g.store.GetMerchantAgreement(ctx, a.MerchantID, a.ID)
}

// applyAgreement moves a pending agreement by the channel's answer: active with its number, or
// terminated when the channel says closed. Compare-and-set: a late answer changes nothing.
func (g *Service) applyAgreement(ctx context.Context, a paygw.Agreement, res channel.AgreementResult) error {
	var to paygw.AgreementStatus
	switch res.Status {
	case channel.StatusSucceeded:
		if a.Status != paygw.AgreementPending || res.AgreementNo == "" {
			return nil
		}
		to = paygw.AgreementActive
	case channel.StatusClosed:
		if a.Status == paygw.AgreementTerminated {
			return nil
		}
		to = paygw.AgreementTerminated
	default:
		return nil
	}
	_, err := g.store.UpdateAgreementStatus(ctx, a.ID, a.Status, to, res.AgreementNo, g.now())
	if to == paygw.AgreementTerminated {
		g.agreements.drop(a.MerchantID, a.ID)
	}
	return err
}

// withSignAction attaches the channel's signing page to a pending agreement.
func (g *Service) withSignAction(ctx context.Context, a paygw.Agreement) paygw.Agreement {
	if a.Status != paygw.AgreementPending {
		return a
	}
	if aa, ok := g.asyncAgreements(a.Channel); ok {
		na, err := aa.SignAction(a.ID)
		if err != nil {
			g.logger(ctx).Warn().Str("agreement_id", a.ID).Err(err).Msg("no signing page")
		}
		a.NextAction = na
	}
	return a
}

// TerminateAgreement ends an agreement at the channel and here; later withholds are refused.
func (g *Service) TerminateAgreement(ctx context.Context, merchantID, id string) (paygw.Agreement, error) {
	a, err := g.GetAgreement(ctx, merchantID, id)
	if err != nil {
		return a, err
	}
	if a.Status == paygw.AgreementTerminated {
		return a, nil
	}
	if a.ChannelNo != "" {
		ch, err := g.channel(a.Channel)
		if err != nil {
			return a, err
		}
		if err := g.router.Call(ctx, a.Channel, "terminate", func() error { return ch.TerminateAgreement(ctx, a.ChannelNo) }); err != nil {
			return a, &paygw.Error{Code: paygw.CodeInternal, Message: "channel could not terminate the agreement; retry", Err: err}
		}
	}
	if _, err := g.store.UpdateAgreementStatus(ctx, a.ID, a.Status, paygw.AgreementTerminated, "", g.now()); err != nil {
		return a, err
	}
	g.agreements.drop(merchantID, id) // the store refuses its payments anyway; no need to keep it
	return g.GetAgreement(ctx, merchantID, id)
}

// agreementNotFoundAfter is how old a pending agreement must be before a channel's not_found
// makes it terminated: earlier, the query may have overtaken the sign request.
const agreementNotFoundAfter = 10 * time.Minute

// sweepAgreement asks the channel what became of a pending agreement whose sign answer was lost.
func (g *Service) sweepAgreement(ctx context.Context, a paygw.Agreement) {
	log := g.logger(ctx).With().Str("agreement_id", a.ID).Str("channel", a.Channel).Logger()
	ch, err := g.channel(a.Channel)
	if err != nil {
		log.Error().Err(err).Msg("agreement on an unconfigured channel")
		_ = g.store.ScheduleAgreementQuery(ctx, a.ID, g.nextQuery(a.QueryCount), a.QueryCount+1, g.now())
		return
	}
	q, ok := ch.(channel.AgreementQuerier)
	if !ok {
		log.Warn().Msg("channel cannot query agreements; the agreement stays pending")
		_ = g.store.ScheduleAgreementQuery(ctx, a.ID, g.nextQuery(a.QueryCount), a.QueryCount+1, g.now())
		return
	}
	var res channel.AgreementResult
	err = g.router.Call(ctx, a.Channel, "query_agreement", func() error {
		var e error
		res, e = q.QueryAgreement(ctx, a.ID)
		return e
	})
	switch {
	case err != nil:
		log.Warn().Err(err).Msg("agreement query failed; will retry")
	case res.Status == channel.StatusSucceeded && res.AgreementNo != "":
		if err := g.finishAgreement(ctx, a, paygw.AgreementActive, res.AgreementNo); err == nil {
			g.metrics.sweeperChecks.WithLabelValues("agreement", "active").Inc()
			log.Info().Msg("agreement resolved by query: active")
			return
		}
	case res.Status == channel.StatusFailed, res.Status == channel.StatusClosed,
		res.Status == channel.StatusNotFound && g.now().Sub(a.CreatedAt) > agreementNotFoundAfter:
		if err := g.finishAgreement(ctx, a, paygw.AgreementTerminated, res.AgreementNo); err == nil {
			g.metrics.sweeperChecks.WithLabelValues("agreement", "terminated").Inc()
			log.Info().Str("status", string(res.Status)).Msg("agreement resolved by query: terminated")
			return
		}
	}
	g.metrics.sweeperChecks.WithLabelValues("agreement", "pending").Inc()
	_ = g.store.ScheduleAgreementQuery(ctx, a.ID, g.nextQuery(a.QueryCount), a.QueryCount+1, g.now())
}
