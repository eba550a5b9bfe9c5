package paygw

// PaymentStatus is a payment's state (API.md).
type PaymentStatus string

// Payment states.
const (
	PaymentCreated           PaymentStatus = "created"
	PaymentProcessing        PaymentStatus = "processing"
	PaymentSucceeded         PaymentStatus = "succeeded"
	PaymentFailed            PaymentStatus = "failed"
	PaymentClosed            PaymentStatus = "closed"
	PaymentPartiallyRefunded PaymentStatus = "partially_refunded"
	PaymentRefunded          PaymentStatus = "refunded"
)

// paymentTransitions is DESIGN.md §2's state machine as data.
var paymentTransitions = map[PaymentStatus][]PaymentStatus{
	PaymentCreated:           {PaymentProcessing, PaymentSucceeded, PaymentFailed, PaymentClosed},
	PaymentProcessing:        {PaymentSucceeded, PaymentFailed, PaymentClosed},
	PaymentSucceeded:         {PaymentPartiallyRefunded, PaymentRefunded},
	PaymentPartiallyRefunded: {PaymentPartiallyRefunded, PaymentRefunded},
}

// CanTransition reports whether a payment may move from one status to another.
func (from PaymentStatus) CanTransition(to PaymentStatus) bool {
	return allowed(paymentTransitions, from, to)
}

// Final reports whether no channel event can change the payment's outcome any more.
func (s PaymentStatus) Final() bool {
	return s == PaymentFailed || s == PaymentClosed || s.Paid()
}

// Paid reports whether money was collected (succeeded or any refunded state).
func (s PaymentStatus) Paid() bool {
	return s == PaymentSucceeded || s == PaymentPartiallyRefunded || s == PaymentRefunded
}

// Valid reports whether s is a known payment status.
func (s PaymentStatus) Valid() bool {
	switch s {
	case PaymentCreated, PaymentProcessing, PaymentSucceeded, PaymentFailed, PaymentClosed,
		PaymentPartiallyRefunded, PaymentRefunded:
		return true
	}
	return false
}

// RefundStatus is a refund's state.
type RefundStatus string

// Refund states.
const (
	RefundProcessing RefundStatus = "processing"
	RefundSucceeded  RefundStatus = "succeeded"
	RefundFailed     RefundStatus = "failed"
)

var refundTransitions = map[RefundStatus][]RefundStatus{
	RefundProcessing: {RefundSucceeded, RefundFailed},
}

// CanTransition reports whether a refund may move from one status to another.
func (from RefundStatus) CanTransition(to RefundStatus) bool {
	return allowed(refundTransitions, from, to)
}

// AgreementStatus is an agreement's (签约) state.
type AgreementStatus string

// Agreement states.
const (
	AgreementPending    AgreementStatus = "pending"
	AgreementActive     AgreementStatus = "active"
	AgreementTerminated AgreementStatus = "terminated"
)

var agreementTransitions = map[AgreementStatus][]AgreementStatus{
	AgreementPending: {AgreementActive, AgreementTerminated},
	AgreementActive:  {AgreementTerminated},
}

// CanTransition reports whether an agreement may move from one status to another.
func (from AgreementStatus) CanTransition(to AgreementStatus) bool {
	return allowed(agreementTransitions, from, to)
}

// NotificationStatus is the delivery state of a merchant notification.
type NotificationStatus string

// Notification states.
const (
	NotificationPending   NotificationStatus = "pending"
	NotificationDelivered NotificationStatus = "delivered"
	NotificationFailed    NotificationStatus = "failed" // last attempt failed, another is scheduled
	NotificationDead      NotificationStatus = "dead"   // schedule exhausted; waits for replay
)

func allowed[S comparable](m map[S][]S, from, to S) bool {
	for _, s := range m[from] {
		if s == to {
			return true
		}
	}
	return false
}

// TransitionError is the error for a transition the state machine forbids.
func TransitionError(kind string, from, to any) *Error {
	return Errorf(CodeInvalidState, "%s is %v and cannot become %v", kind, from, to)
}

// CheckPaymentTransition returns an invalid_state error unless from -> to is allowed.
func CheckPaymentTransition(from, to PaymentStatus) error {
	if !from.CanTransition(to) {
		return TransitionError("payment", from, to)
	}
	return nil
}

func (s PaymentStatus) String() string { return string(s) }

// PayMethod is a product: how the payer pays.
type PayMethod string

// Pay methods.
const (
	PayMethodWalletQR      PayMethod = "wallet_qr"
	PayMethodOnlineBanking PayMethod = "online_banking"
	PayMethodQuickPay      PayMethod = "quick_pay"
	PayMethodWithhold      PayMethod = "withhold"
	PayMethodWalletH5      PayMethod = "wallet_h5"    // a mobile browser redirect (WeChat H5, Alipay wap pay)
	PayMethodWalletJSAPI   PayMethod = "wallet_jsapi" // inside WeChat / a mini program; needs payer.openid
	PayMethodWebPage       PayMethod = "web_page"     // a desktop redirect (Alipay page pay)
)

// PayMethods lists every pay method paygw knows.
var PayMethods = []PayMethod{PayMethodWalletQR, PayMethodOnlineBanking, PayMethodQuickPay, PayMethodWithhold,
	PayMethodWalletH5, PayMethodWalletJSAPI, PayMethodWebPage}

// ParsePayMethod validates a pay method name.
func ParsePayMethod(s string) (PayMethod, error) {
	for _, m := range PayMethods {
		if string(m) == s {
			return m, nil
		}
	}
	return "", Errorf(CodeUnsupportedPayMethod, "pay_method %q is not supported", s)
}

// NeedsAgreement reports whether the method charges a signed agreement.
func (m PayMethod) NeedsAgreement() bool { return m == PayMethodQuickPay || m == PayMethodWithhold }

// Redirect reports whether the payer pays on the channel's page (or in its app): the result
// arrives later, by callback or query.
func (m PayMethod) Redirect() bool {
	switch m {
	case PayMethodWalletQR, PayMethodOnlineBanking, PayMethodWalletH5, PayMethodWalletJSAPI, PayMethodWebPage:
		return true
	}
	return false
}
