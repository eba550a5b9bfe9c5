package alipay

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/paygw"
)

// Agreement statuses Alipay reports (alipay.user.agreement.query status, dut_user_sign /
// dut_user_unsign notifications).
const (
	AgreementTemp   = "TEMP"   // created, the payer has not confirmed
	AgreementNormal = "NORMAL" // signed: deductions allowed
	AgreementStop   = "STOP"   // suspended
	AgreementUnsign = "UNSIGN" // terminated (notifications)
)

type accessParams struct {
	Channel string `json:"channel"`
}

type signBiz struct {
	PersonalProductCode string        `json:"personal_product_code"`
	ProductCode         string        `json:"product_code"`
	SignScene           string        `json:"sign_scene"`
	ExternalAgreementNo string        `json:"external_agreement_no"`
	AccessParams        *accessParams `json:"access_params,omitempty"`
}

// SignURL builds the signed alipay.user.agreement.page.sign URL for paygw agreement id (sent as
// external_agreement_no). The payer confirms there; Alipay then notifies dut_user_sign and the
// agreement becomes NORMAL. Nothing is sent from here.
func (c *Channel) SignURL(agreementID, notifyURL, returnURL string) (string, error) {
	if agreementID == "" || len(agreementID) > 32 {
		return "", fmt.Errorf("alipay agreement sign: external_agreement_no %q must be 1..32 characters", agreementID)
	}
	return c.pageURL(MethodAgreementSign, signBiz{PersonalProductCode: PersonalProductWithhold,
		ProductCode: ProductWithhold, SignScene: SignScene, ExternalAgreementNo: agreementID,
		AccessParams: &accessParams{Channel: "ALIPAYAPP"}}, notifyURL, returnURL)
}

// Sign implements channel.Channel. Alipay signing completes asynchronously: the answer is
// processing (the agreement stays pending) until a notification or QueryAgreement says NORMAL.
// The payer's account data is not sent: the payer identifies at Alipay's page.
func (c *Channel) Sign(ctx context.Context, req channel.SignRequest) (channel.SignResult, error) {
	if req.PayMethod != PayWithhold {
		return channel.SignResult{}, fmt.Errorf("alipay agreement: pay method %q: %w (agreements are for withhold)", req.PayMethod, channel.ErrDeclined)
	}
	if _, err := c.SignURL(req.AgreementID, "", ""); err != nil {
		return channel.SignResult{}, fmt.Errorf("%w: %v", channel.ErrDeclined, err)
	}
	return channel.SignResult{Status: channel.StatusProcessing, Reason: "awaiting the payer at Alipay"}, nil
}

// SignAction implements channel.AsyncAgreements: a redirect to a freshly signed page.sign URL,
// whose notification comes to this channel's notify URL.
func (c *Channel) SignAction(agreementID string) (*paygw.NextAction, error) {
	u, err := c.SignURL(agreementID, c.notifyURL, "")
	if err != nil {
		return nil, err
	}
	return &paygw.NextAction{Type: paygw.NextActionRedirect, URL: u}, nil
}

var _ channel.AsyncAgreements = (*Channel)(nil)

type agreementQueryBiz struct {
	AgreementNo         string `json:"agreement_no,omitempty"`
	PersonalProductCode string `json:"personal_product_code,omitempty"`
	SignScene           string `json:"sign_scene,omitempty"`
	ExternalAgreementNo string `json:"external_agreement_no,omitempty"`
}

type agreementAnswer struct {
	AgreementNo         string `json:"agreement_no"`
	ExternalAgreementNo string `json:"external_agreement_no"`
	Status              string `json:"status"`
	SignTime            string `json:"sign_time"`
}

// Agreement is Alipay's view of an agreement: AgreementID is paygw's id (external_agreement_no),
// AgreementNo Alipay's agreement_no; succeeded = NORMAL, processing = TEMP or not created yet,
// closed = STOP / UNSIGN.
type Agreement = channel.AgreementResult

func agreementStatus(s string) (channel.Status, error) {
	switch s {
	case AgreementNormal:
		return channel.StatusSucceeded, nil
	case AgreementTemp:
		return channel.StatusProcessing, nil
	case AgreementStop, AgreementUnsign:
		return channel.StatusClosed, nil
	}
	return "", fmt.Errorf("unknown agreement status %q", s)
}

// QueryAgreement asks alipay.user.agreement.query by external_agreement_no. An agreement Alipay
// does not know yet (the payer has not opened the page) is processing.
func (c *Channel) QueryAgreement(ctx context.Context, agreementID string) (Agreement, error) {
	var a agreementAnswer
	err := c.call(ctx, MethodAgreementQuery, agreementQueryBiz{PersonalProductCode: PersonalProductWithhold,
		SignScene: SignScene, ExternalAgreementNo: agreementID}, "", &a)
	var ae *Error
	if errors.As(err, &ae) && ae.Code == CodeBusinessFailed && strings.Contains(ae.SubCode, "AGREEMENT_NOT_EXIST") {
		return Agreement{AgreementID: agreementID, Status: channel.StatusProcessing}, nil
	}
	if err != nil {
		return Agreement{}, err
	}
	st, err := agreementStatus(a.Status)
	if err != nil {
		return Agreement{}, fmt.Errorf("alipay agreement query %s: %w: %v", agreementID, channel.ErrUnknownOutcome, err)
	}
	if a.ExternalAgreementNo != "" && a.ExternalAgreementNo != agreementID {
		return Agreement{}, fmt.Errorf("alipay agreement query %s: %w: answer is about %s", agreementID, channel.ErrUnknownOutcome, a.ExternalAgreementNo)
	}
	return Agreement{AgreementID: agreementID, AgreementNo: a.AgreementNo, Status: st}, nil
}

// TerminateAgreement implements channel.Channel with alipay.user.agreement.unsign. An agreement
// Alipay does not know (or no longer) is terminated already.
func (c *Channel) TerminateAgreement(ctx context.Context, agreementNo string) error {
	var a agreementAnswer
	err := c.call(ctx, MethodAgreementStop, agreementQueryBiz{AgreementNo: agreementNo}, "", &a)
	var ae *Error
	if errors.As(err, &ae) && ae.Code == CodeBusinessFailed && strings.Contains(ae.SubCode, "AGREEMENT_NOT_EXIST") {
		return nil
	}
	return err
}
