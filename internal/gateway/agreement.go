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
		return g.idempotentAgreement(existing, token, pm)
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
	return out, true, gerr
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

// GetAgreement returns a merchant's agreement.
func (g *Service) GetAgreement(ctx context.Context, merchantID, id string) (paygw.Agreement, error) {
	a, err := g.store.GetMerchantAgreement(ctx, merchantID, id)
	return a, notFound(err, "agreement")
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
