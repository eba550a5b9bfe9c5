package channel

import "errors"

// ErrUnavailable means the request never reached the channel (connection refused, no route,
// DNS failure): a definite non-execution caused by the channel being unavailable. It is safe to
// fail over to another channel, and the channel's circuit breaker counts it. An adapter wraps it
// together with ErrDeclined (fmt.Errorf("%w: %w", ErrUnavailable, ErrDeclined)) so callers that
// only ask "was it executed?" keep working.
//
// ErrDeclined alone is a business refusal by a channel that is working (the payer's issuer
// declined, an agreement is invalid, a refund exceeds what is left): the payment's or refund's
// outcome. The gateway neither fails over on it nor counts it against the breaker (DESIGN.md §5).
var ErrUnavailable = errors.New("channel: unavailable, not sent")

// PayerDeclined reports whether err is a business refusal of a working channel (ErrDeclined
// without ErrUnavailable): the request's outcome, not a fault of the channel.
func PayerDeclined(err error) bool {
	return errors.Is(err, ErrDeclined) && !errors.Is(err, ErrUnavailable)
}
