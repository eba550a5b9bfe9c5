package gateway

import (
	"context"
	"errors"

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
	a := paygw.Agreement{
		ID: paygw.NewID("agr"), MerchantID: merchantID, OutAgreementNo: req.OutAgreementNo, PayMethod: pm,
		Status: paygw.AgreementPending, Channel: cands[0], PayerName: req.Payer.Name,
		AccountMasked: paygw.MaskAccount(req.Payer.AccountNo), PhoneMasked: paygw.MaskPhone(req.Payer.Phone),
		AccountToken: token, CreatedAt: store.Now(now), UpdatedAt: store.Now(now),
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
	to := paygw.AgreementActive
	if err != nil || res.Status != channel.StatusSucceeded {
		to = paygw.AgreementTerminated
		g.logger(ctx).Info().Str("agreement_id", a.ID).Err(err).Str("reason", res.Reason).Msg("agreement refused by the channel")
	}
	if _, uerr := g.store.UpdateAgreementStatus(ctx, a.ID, paygw.AgreementPending, to, res.AgreementNo, g.now()); uerr != nil {
		return a, true, uerr
	}
	out, gerr := g.store.GetMerchantAgreement(ctx, merchantID, a.ID)
	return out, true, gerr
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
