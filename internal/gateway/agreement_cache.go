package gateway

import (
	"context"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// agreementCache keeps the active agreements this process read for payments, for a while: a
// withhold names its agreement on every payment, and reading it each time was a database round
// trip per payment (a tenth of serve's CPU on PostgreSQL). Only active agreements are kept; an
// active agreement changes only by being terminated, and the store records a payment that needs
// an agreement only while the agreement is active in the database (store.ErrAgreementInactive),
// so a termination by any replica refuses the next payment at once, whatever is kept here.
type agreementCache struct {
	expiring[agreementKey, paygw.Agreement]
}

type agreementKey struct{ merchantID, id string }

// agreementTTL bounds how long an agreement is kept: memory, not correctness, sets it.
const agreementTTL = time.Minute

func (c *agreementCache) get(merchantID, id string, now time.Time) (paygw.Agreement, bool) {
	return c.expiring.get(agreementKey{merchantID, id}, now)
}

// put keeps a, if it is active, for agreementTTL.
func (c *agreementCache) put(a paygw.Agreement, now time.Time) {
	if a.Status == paygw.AgreementActive {
		c.expiring.put(agreementKey{a.MerchantID, a.ID}, a, now.Add(agreementTTL))
	}
}

func (c *agreementCache) drop(merchantID, id string) {
	c.expiring.drop(agreementKey{merchantID, id})
}

// paymentAgreement is the agreement a payment names: an active one this process read within
// agreementTTL from memory, otherwise from the store (a pending one refreshed at its channel:
// it may have been signed meanwhile). store.ErrNotFound when the merchant has no such agreement.
func (g *Service) paymentAgreement(ctx context.Context, merchantID, id string) (paygw.Agreement, error) {
	now := g.now()
	if a, ok := g.agreements.get(merchantID, id, now); ok {
		return a, nil
	}
	a, err := g.store.GetMerchantAgreement(ctx, merchantID, id)
	if err != nil {
		return a, err
	}
	if a, err = g.refreshAgreement(ctx, a); err != nil {
		return a, err
	}
	g.agreements.put(a, now)
	return a, nil
}
