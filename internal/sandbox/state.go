package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// isRedirect reports whether the payer pays on the cashier page (or, behind a protocol front,
// in the wallet the front simulates).
func isRedirect(m string) bool {
	switch m {
	case MethodWalletQR, MethodOnlineBanking, "wallet_h5", "wallet_jsapi", "web_page":
		return true
	}
	return false
}
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
	Payer       string         `json:"payer,omitempty"` // the payer's id at the channel (a protocol front's openid)
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

// changes tracks what the state file has not got yet. Only used with a StateFile.
type changes struct {
	all        bool // rewrite the whole file (after load, or after a failed append)
	trades     map[*trade]struct{}
	refunds    map[*refund]struct{}
	agreements map[*agreement]struct{}
	injections int    // injections already in the file
	seq        uint64 // seq already in the file
}

// touchTrade, touchRefund and touchAgreement note a change for the state file; callers hold s.mu.
func (s *Server) touchTrade(t *trade) {
	if s.opts.StateFile != "" {
		s.changed.trades[t] = struct{}{}
	}
}

func (s *Server) touchRefund(r *refund) {
	if s.opts.StateFile != "" {
		s.changed.refunds[r] = struct{}{}
	}
}

func (s *Server) touchAgreement(a *agreement) {
	if s.opts.StateFile != "" {
		s.changed.agreements[a] = struct{}{}
	}
}

// record is one line of the state file (JSON lines; a later line for the same object wins).
type record struct {
	Seq       *uint64    `json:"seq,omitempty"`
	Trade     *trade     `json:"trade,omitempty"`
	Refund    *refund    `json:"refund,omitempty"`
	Agreement *agreement `json:"agreement,omitempty"`
	Injection *Injection `json:"injection,omitempty"`
}

// allRecordsLocked copies the whole state as records; callers hold s.mu.
func (s *Server) allRecordsLocked() []record {
	seq := s.seq
	recs := make([]record, 0, 1+len(s.trades)+len(s.refunds)+len(s.agreements)+len(s.injections))
	recs = append(recs, record{Seq: &seq})
	for _, a := range s.agreements {
		c := *a
		recs = append(recs, record{Agreement: &c})
	}
	for _, t := range s.trades {
		c := *t
		recs = append(recs, record{Trade: &c})
	}
	for _, r := range s.refunds {
		c := *r
		recs = append(recs, record{Refund: &c})
	}
	for i := range s.injections {
		c := s.injections[i]
		recs = append(recs, record{Injection: &c})
	}
	return recs
}

// changedRecordsLocked copies what changed since the last save and forgets it; callers hold s.mu.
func (s *Server) changedRecordsLocked() []record {
	c := &s.changed
	var recs []record
	if c.seq != s.seq {
		seq := s.seq
		recs = append(recs, record{Seq: &seq})
		c.seq = seq
	}
	for a := range c.agreements {
		v := *a
		recs = append(recs, record{Agreement: &v})
	}
	for t := range c.trades {
		v := *t
		recs = append(recs, record{Trade: &v})
	}
	for r := range c.refunds {
		v := *r
		recs = append(recs, record{Refund: &v})
	}
	for i := c.injections; i < len(s.injections); i++ {
		v := s.injections[i]
		recs = append(recs, record{Injection: &v})
	}
	c.injections = len(s.injections)
	clear(c.trades)
	clear(c.refunds)
	clear(c.agreements)
	return recs
}

// save brings the state file up to date: it appends the changed objects (cheap: O(changes)), or
// rewrites the file atomically when a full rewrite is due.
func (s *Server) save() error {
	if s.opts.StateFile == "" {
		return nil
	}
	s.mu.Lock()
	full := s.changed.all
	var recs []record
	if full {
		recs = s.allRecordsLocked()
		s.changed.all = false
		s.changed.seq, s.changed.injections = s.seq, len(s.injections)
		clear(s.changed.trades)
		clear(s.changed.refunds)
		clear(s.changed.agreements)
	} else {
		recs = s.changedRecordsLocked()
	}
	s.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // one record per line
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return s.saveFailed(fmt.Errorf("encode: %w", err))
		}
	}
	var err error
	if full {
		err = writeFileAtomic(s.opts.StateFile, buf.Bytes())
	} else {
		err = appendFile(s.opts.StateFile, buf.Bytes())
	}
	if err != nil {
		return s.saveFailed(err)
	}
	return nil
}

// saveFailed schedules a full rewrite, so that nothing is lost by a failed append.
func (s *Server) saveFailed(err error) error {
	s.mu.Lock()
	s.changed.all = true
	s.mu.Unlock()
	return fmt.Errorf("sandbox: save state %s: %w", s.opts.StateFile, err)
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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

// load replays the state file if it exists and re-schedules unfinished work. A torn last line
// (a crash during an append) is ignored; any other damage is an error naming the file and record.
func (s *Server) load() error {
	s.changed = changes{trades: map[*trade]struct{}{}, refunds: map[*refund]struct{}{},
		agreements: map[*agreement]struct{}{}}
	if s.opts.StateFile == "" {
		return nil
	}
	f, err := os.Open(s.opts.StateFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sandbox: read state: %w", err)
	}
	defer f.Close()
	file := s.opts.StateFile
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	for n := 1; ; n++ {
		var rec record
		err := dec.Decode(&rec)
		if err == io.EOF {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			s.log.Warn().Str("file", file).Int("record", n).Msg("state file ends in a torn record; ignored")
			break
		}
		if err != nil {
			return fmt.Errorf("sandbox: state file %s: record %d: %w", file, n, err)
		}
		if err := s.apply(rec); err != nil {
			return fmt.Errorf("sandbox: state file %s: record %d: %w", file, n, err)
		}
	}
	for _, t := range s.trades {
		if t.Status == channel.StatusProcessing && s.opts.AutoPay > 0 && isRedirect(t.PayMethod) {
			s.schedule(&task{kind: taskAutoPay, key: t.OutTradeNo}, s.opts.AutoPay)
		}
	}
	for _, r := range s.refunds {
		if r.Status == channel.StatusProcessing {
			s.schedule(&task{kind: taskRefund, key: r.OutRefundNo}, time.Until(r.DueAt))
		}
	}
	s.changed.all = true // compact on the first save
	return nil
}

// apply replays one record.
func (s *Server) apply(rec record) error {
	switch {
	case rec.Seq != nil:
		s.seq = max(s.seq, *rec.Seq)
	case rec.Trade != nil:
		t := rec.Trade
		if t.OutTradeNo == "" {
			return errors.New("trade without out_trade_no")
		}
		if !t.Tombstone && !money.Currency(t.Currency).Valid() {
			return fmt.Errorf("trade %s: currency %q is not supported", t.OutTradeNo, t.Currency)
		}
		s.trades[t.OutTradeNo] = t
		if t.TradeNo != "" {
			s.tradesByNo[t.TradeNo] = t
		}
	case rec.Refund != nil:
		if rec.Refund.OutRefundNo == "" {
			return errors.New("refund without out_refund_no")
		}
		s.refunds[rec.Refund.OutRefundNo] = rec.Refund
	case rec.Agreement != nil:
		a := rec.Agreement
		if a.AgreementNo == "" {
			return errors.New("agreement without agreement_no")
		}
		s.agreements[a.AgreementNo] = a
		s.agreementsByOut[a.OutAgreementNo] = a
	case rec.Injection != nil:
		s.injections = append(s.injections, *rec.Injection)
	default:
		return errors.New("empty record")
	}
	return nil
}
