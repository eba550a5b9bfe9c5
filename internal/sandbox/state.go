package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/money"
)

// Pay methods the sandbox offers.
const (
	MethodWalletQR      = "wallet_qr"
	MethodOnlineBanking = "online_banking"
	MethodQuickPay      = "quick_pay"
	MethodWithhold      = "withhold"
)

func isRedirect(m string) bool { return m == MethodWalletQR || m == MethodOnlineBanking }
func isAgreementPay(m string) bool {
	return m == MethodQuickPay || m == MethodWithhold
}

// trade is the sandbox's record of a payment. Fields are exported only for the state file.
type trade struct {
	OutTradeNo  string         `json:"out_trade_no"`
	TradeNo     string         `json:"trade_no"`
	Amount      int64          `json:"amount"`
	Currency    string         `json:"currency"`
	PayMethod   string         `json:"pay_method"`
	Subject     string         `json:"subject"`
	NotifyURL   string         `json:"notify_url,omitempty"`
	ReturnURL   string         `json:"return_url,omitempty"`
	AgreementNo string         `json:"agreement_no,omitempty"`
	PayURL      string         `json:"pay_url,omitempty"`
	Status      channel.Status `json:"status"`
	Code        string         `json:"code,omitempty"` // error code a declined trade answers with
	Reason      string         `json:"reason,omitempty"`
	Tombstone   bool           `json:"tombstone,omitempty"` // closed before the sandbox ever saw it
	CreatedAt   time.Time      `json:"created_at"`
	ExpiresAt   time.Time      `json:"expires_at,omitzero"`
	PaidAt      time.Time      `json:"paid_at,omitzero"`
	Fee         int64          `json:"fee"`
	Refunded    int64          `json:"refunded"`     // accepted refunds (processing and succeeded)
	FeeReturned int64          `json:"fee_returned"` // fee returned by accepted refunds
}

func (t *trade) wire() wireTrade {
	return wireTrade{
		OutTradeNo: t.OutTradeNo, TradeNo: t.TradeNo, Amount: t.Amount, Currency: t.Currency,
		PayMethod: t.PayMethod, Subject: t.Subject, Status: string(t.Status), PayURL: t.PayURL,
		Fee: t.Fee, RefundedAmount: t.Refunded, CreatedAt: formatTime(t.CreatedAt),
		PaidAt: formatTime(t.PaidAt), Reason: t.Reason,
	}
}

// expire closes an unpaid trade whose expiry passed; callers hold s.mu.
func (t *trade) expire(now time.Time) bool {
	if t.Status == channel.StatusProcessing && !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		t.Status, t.Reason = channel.StatusClosed, "expired unpaid"
		return true
	}
	return false
}

// refund is the sandbox's record of a refund.
type refund struct {
	OutRefundNo string         `json:"out_refund_no"`
	RefundNo    string         `json:"refund_no"`
	OutTradeNo  string         `json:"out_trade_no"`
	TradeNo     string         `json:"trade_no"`
	Amount      int64          `json:"amount"`
	Currency    string         `json:"currency"`
	Fee         int64          `json:"fee"`
	Status      channel.Status `json:"status"`
	Reason      string         `json:"reason,omitempty"`
	NotifyURL   string         `json:"notify_url,omitempty"`
	CreatedAt   time.Time      `json:"created_at"`
	DueAt       time.Time      `json:"due_at"` // when the bank completes it (wall clock)
	SucceededAt time.Time      `json:"succeeded_at,omitzero"`
}

func (r *refund) wire() wireRefund {
	return wireRefund{
		OutTradeNo: r.OutTradeNo, TradeNo: r.TradeNo, OutRefundNo: r.OutRefundNo, RefundNo: r.RefundNo,
		Amount: r.Amount, Currency: r.Currency, Fee: r.Fee, Status: string(r.Status),
		CreatedAt: formatTime(r.CreatedAt), SucceededAt: formatTime(r.SucceededAt), Reason: r.Reason,
	}
}

// agreement is a signed payer authorisation. Only masked account data is kept.
type agreement struct {
	AgreementNo    string    `json:"agreement_no"`
	OutAgreementNo string    `json:"out_agreement_no"`
	PayMethod      string    `json:"pay_method"`
	Status         string    `json:"status"` // active | terminated
	PayerName      string    `json:"payer_name"`
	AccountMasked  string    `json:"account_masked"`
	PhoneMasked    string    `json:"phone_masked,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

func (a *agreement) wire() wireAgreement {
	return wireAgreement{
		AgreementNo: a.AgreementNo, OutAgreementNo: a.OutAgreementNo, PayMethod: a.PayMethod,
		Status: a.Status, PayerName: a.PayerName, AccountMasked: a.AccountMasked, PhoneMasked: a.PhoneMasked,
	}
}

// Agreement statuses.
const (
	agreementActive     = "active"
	agreementTerminated = "terminated"
)

// apiError is an answer other than 200.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func badRequest(format string, a ...any) *apiError {
	return &apiError{http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf(format, a...)}
}

// maskAccount keeps the first 4 and last 4 characters of an account number.
func maskAccount(s string) string {
	if len(s) <= 8 {
		return strings.Repeat("*", len(s))
	}
	return s[:4] + strings.Repeat("*", len(s)-8) + s[len(s)-4:]
}

// maskPhone keeps the first 3 and last 4 digits of a phone number.
func maskPhone(s string) string {
	if len(s) <= 7 {
		return strings.Repeat("*", len(s))
	}
	return s[:3] + strings.Repeat("*", len(s)-7) + s[len(s)-4:]
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// checkID validates an out_* number sent by the gateway.
func checkID(field, v string) *apiError {
	if v == "" || len(v) > 64 {
		return badRequest("%s must have 1..64 characters", field)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f {
			return badRequest("%s has a non-printable or non-ASCII character", field)
		}
	}
	return nil
}

// snapshot is the state file's content.
type snapshot struct {
	Seq        uint64       `json:"seq"`
	Trades     []*trade     `json:"trades"`
	Refunds    []*refund    `json:"refunds"`
	Agreements []*agreement `json:"agreements"`
	Injections []Injection  `json:"injections"`
}

// snapshot copies the state; callers hold s.mu.
func (s *Server) snapshotLocked() snapshot {
	sn := snapshot{Seq: s.seq, Injections: append([]Injection(nil), s.injections...)}
	sn.Trades = make([]*trade, 0, len(s.trades))
	for _, t := range s.trades {
		c := *t
		sn.Trades = append(sn.Trades, &c)
	}
	sn.Refunds = make([]*refund, 0, len(s.refunds))
	for _, r := range s.refunds {
		c := *r
		sn.Refunds = append(sn.Refunds, &c)
	}
	sn.Agreements = make([]*agreement, 0, len(s.agreements))
	for _, a := range s.agreements {
		c := *a
		sn.Agreements = append(sn.Agreements, &c)
	}
	return sn
}

// save writes the state file atomically (temp file + rename) when the state changed.
func (s *Server) save() error {
	if s.opts.StateFile == "" {
		return nil
	}
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	sn := s.snapshotLocked()
	s.dirty = false
	s.mu.Unlock()
	b, err := json.Marshal(sn)
	if err == nil {
		err = writeFileAtomic(s.opts.StateFile, b)
	}
	if err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return fmt.Errorf("sandbox: save state %s: %w", s.opts.StateFile, err)
	}
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// load reads the state file if it exists and re-schedules unfinished work.
func (s *Server) load() error {
	if s.opts.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(s.opts.StateFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sandbox: read state: %w", err)
	}
	var sn snapshot
	if err := json.Unmarshal(b, &sn); err != nil {
		return fmt.Errorf("sandbox: state file %s: %w", s.opts.StateFile, err)
	}
	s.seq = sn.Seq
	s.injections = sn.Injections
	for _, t := range sn.Trades {
		if t == nil || t.OutTradeNo == "" {
			return fmt.Errorf("sandbox: state file %s: trade without out_trade_no", s.opts.StateFile)
		}
		if _, err := money.ParseCurrency(t.Currency); err != nil && !t.Tombstone {
			return fmt.Errorf("sandbox: state file %s: trade %s: %w", s.opts.StateFile, t.OutTradeNo, err)
		}
		s.trades[t.OutTradeNo] = t
		if t.TradeNo != "" {
			s.tradesByNo[t.TradeNo] = t
		}
		if t.Status == channel.StatusProcessing && s.opts.AutoPay > 0 && isRedirect(t.PayMethod) {
			s.schedule(&task{kind: taskAutoPay, key: t.OutTradeNo}, s.opts.AutoPay)
		}
	}
	for _, r := range sn.Refunds {
		if r == nil || r.OutRefundNo == "" {
			return fmt.Errorf("sandbox: state file %s: refund without out_refund_no", s.opts.StateFile)
		}
		s.refunds[r.OutRefundNo] = r
		if r.Status == channel.StatusProcessing {
			s.schedule(&task{kind: taskRefund, key: r.OutRefundNo}, time.Until(r.DueAt))
		}
	}
	for _, a := range sn.Agreements {
		if a == nil || a.AgreementNo == "" {
			return fmt.Errorf("sandbox: state file %s: agreement without agreement_no", s.opts.StateFile)
		}
		s.agreements[a.AgreementNo] = a
		s.agreementsByOut[a.OutAgreementNo] = a
	}
	return nil
}
