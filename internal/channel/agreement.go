package channel

import "context"

// AgreementQuerier is implemented by channels that can say what became of a sign request whose
// answer was lost (timeout, crash): the sweeper asks it about pending agreements. Status is
// succeeded (active, with AgreementNo), failed (refused or terminated) or StatusNotFound (the
// request never arrived).
type AgreementQuerier interface {
	QueryAgreement(ctx context.Context, agreementID string) (SignResult, error)
}
