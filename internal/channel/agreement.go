package channel

import "context"

// AgreementResult is the channel's view of an agreement signed by the payer at the channel.
type AgreementResult struct {
	AgreementID string // paygw's agreement id
	AgreementNo string // the channel's agreement number (once signed)
	Status      Status // succeeded = active, processing = awaiting the payer, closed = terminated
}

// AgreementQuerier is implemented by channels that can say what became of a sign request whose
// answer was lost (timeout, crash): the sweeper asks it about pending agreements. Status is
// succeeded (active, with AgreementNo), processing (not decided yet), closed or failed
// (refused or terminated), or StatusNotFound (the request never arrived).
type AgreementQuerier interface {
	QueryAgreement(ctx context.Context, agreementID string) (AgreementResult, error)
}
