// Package statement reads and writes payment-channel statements ("bills", 对账单): the sandbox
// channel's CSV, the WeChat Pay trade bill, the Alipay trade bill (a zip of GBK CSVs) and a generic
// CSV/XLSX file described by a column Mapping.
//
// Every reader streams: it yields one normalised Row at a time and never holds the whole file, so a
// statement of millions of rows is read in constant memory. Where a format carries its own totals
// (WeChat Pay's summary row, Alipay's #交易合计/#退款合计 lines) the reader checks the detail rows
// against them before reporting io.EOF; a file that does not add up (a truncated download, an edited
// file) ends in an *Error wrapping ErrTotals instead.
//
// The package does no I/O of its own beyond the io.Reader / io.Writer it is given: no storage, no
// network. Bad input always yields an *Error naming the file, the line and the field.
package statement

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paygw/paygw/internal/money"
)

// Kind says whether a statement row is a payment or a refund.
type Kind string

// The kinds of statement rows.
const (
	KindPayment Kind = "payment"
	KindRefund  Kind = "refund"
)

// Normalised row statuses. Channels print their own vocabulary; readers map it onto these.
const (
	// StatusSucceeded is a collected payment or a refund the channel counts as refunded (WeChat Pay
	// treats PROCESSING refunds in a bill as refunded, and so does this package).
	StatusSucceeded = "succeeded"
	// StatusProcessing is a payment the channel has not finished.
	StatusProcessing = "processing"
	// StatusFailed is a failed payment or an abnormal refund (WeChat Pay CHANGE).
	StatusFailed = "failed"
	// StatusClosed is a closed payment or refund (WeChat Pay REFUNDCLOSE).
	StatusClosed = "closed"
	// StatusRevoked is a payment revoked after success (WeChat Pay REVOKED 付款码 orders): not collected.
	StatusRevoked = "revoked"
)

// Row is one normalised statement line.
type Row struct {
	// Line is the 1-based line (or sheet row) number in the file, for messages.
	Line int
	// Kind is payment or refund.
	Kind Kind
	// TradeTime is the instant of the row in UTC. Bill times carry no zone and are read in the
	// channel's zone (Options.Location, default Asia/Shanghai).
	TradeTime time.Time
	// ChannelTradeNo is the channel's payment id; on a refund row, the refunded payment's.
	ChannelTradeNo string
	// ChannelRefundNo is the channel's refund id (refund rows only; empty for Alipay, which has none).
	ChannelRefundNo string
	// OutTradeNo is the payment id paygw sent the channel.
	OutTradeNo string
	// OutRefundNo is the refund id paygw sent the channel (refund rows only).
	OutRefundNo string
	// Amount is the payment or refund amount in positive minor units: what paygw asked for
	// (WeChat Pay 订单金额 / 申请退款金额, Alipay 订单金额 made positive).
	Amount int64
	// Fee is the channel fee in minor units: charged on a payment, returned on a refund, positive in
	// both cases (a file with an unusual sign yields a negative Fee rather than an error).
	Fee int64
	// Currency is the row's currency (the default currency when the format has no such column).
	Currency money.Currency
	// Status is the normalised status, one of the Status constants or the channel's own word in lower case.
	Status string
}

// Totals is what a reader summed over the rows it returned so far.
type Totals struct {
	// Count is the number of rows; PaymentCount and RefundCount split it by kind.
	Count, PaymentCount, RefundCount int
	// PaymentAmount and RefundAmount are the sums of Amount by kind (mixed currencies are added as
	// they come; they are meant for single-currency bills).
	PaymentAmount, RefundAmount int64
	// Fee is the net fee: fees charged on payments minus fees returned on refunds.
	Fee int64
}

func (t *Totals) add(r Row) {
	t.Count++
	switch r.Kind {
	case KindPayment:
		t.PaymentCount++
		t.PaymentAmount += r.Amount
		t.Fee += r.Fee
	case KindRefund:
		t.RefundCount++
		t.RefundAmount += r.Amount
		t.Fee -= r.Fee
	}
}

// ErrTotals is wrapped by the error returned when the detail rows do not add up to the file's own
// summary, or the summary is missing: a truncated or edited file.
var ErrTotals = errors.New("statement totals do not match")

// Error is a statement parse or check error. It names the file, the line (0 when it concerns the
// whole file) and the field (empty when it concerns the whole line).
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
	// Err is the underlying cause, if any (ErrTotals, a money.ParseError, a time parse error).
	Err error
}

// Error formats the error as "FILE:LINE: field X: msg".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s: ", e.Field)
	}
	b.WriteString(e.Msg)
	if e.Err != nil && e.Err != ErrTotals {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	s := b.String()
	if len(s) > maxErrorText {
		// Messages quote short prefixes of outside input; this bounds whatever else got in (and
		// what job_runs and logs store).
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Format names a statement format.
type Format string

// The supported statement formats.
const (
	FormatSandbox   Format = "sandbox"
	FormatWeChatPay Format = "wechatpay"
	FormatAlipay    Format = "alipay"
	FormatMapped    Format = "mapped"
)

// Formats lists every supported format.
var Formats = []Format{FormatSandbox, FormatWeChatPay, FormatAlipay, FormatMapped}

// ParseFormat validates a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown statement format %q (want sandbox, wechatpay, alipay or mapped)", s)
}

// DefaultLocation is the zone of Chinese channel bills: Asia/Shanghai, UTC+8 without DST since 1991.
// It is a fixed zone so that reading does not depend on the host's tz database.
var DefaultLocation = time.FixedZone("Asia/Shanghai", 8*60*60)

// Options tune a Reader.
type Options struct {
	// Location is the zone bill times are read in; nil means DefaultLocation.
	Location *time.Location
	// Currency is used where the file has no currency column (Alipay, mapped without one) and where
	// its currency cell is empty; empty means CNY.
	Currency money.Currency
	// Mapping describes the columns of a mapped file; required for FormatMapped only.
	Mapping *Mapping
}

func (o Options) withDefaults() (Options, error) {
	if o.Location == nil {
		o.Location = DefaultLocation
	}
	if o.Currency == "" {
		o.Currency = "CNY"
	}
	if !o.Currency.Valid() {
		return o, fmt.Errorf("statement options: %w %q", money.ErrUnknownCurrency, string(o.Currency))
	}
	return o, nil
}

// source is one format's row producer. next returns io.EOF after the last detail row; verify then
// checks the file's own totals (if any) against what was read.
type source interface {
	next() (Row, error)
	verify() error
}

// Reader reads a statement one row at a time.
type Reader struct {
	name   string
	src    source
	totals Totals
	err    error
}

// Open starts reading statement r in the given format. name is used in error messages only.
// The Alipay reader keeps the (small) zip in memory; all others stream.
func Open(format Format, name string, r io.Reader, opts Options) (*Reader, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var src source
	switch format {
	case FormatSandbox:
		src, err = openSandbox(name, r, opts)
	case FormatWeChatPay:
		src, err = openWeChatPay(name, r, opts)
	case FormatAlipay:
		src, err = openAlipay(name, r, opts)
	case FormatMapped:
		if opts.Mapping == nil {
			return nil, fmt.Errorf("open %s: format mapped needs a column mapping", name)
		}
		src, err = openMapped(name, r, opts)
	default:
		_, err = ParseFormat(string(format))
	}
	if err != nil {
		return nil, err
	}
	return &Reader{name: name, src: src}, nil
}

// Next returns the next row. After the last row it returns io.EOF, but only once the file's own
// totals have been verified; otherwise it returns an *Error (wrapping ErrTotals for totals that do
// not add up). Once an error was returned, Next keeps returning it.
func (r *Reader) Next() (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	row, err := r.src.next()
	if err == io.EOF {
		if verr := r.src.verify(); verr != nil {
			r.err = verr
			return Row{}, verr
		}
		r.err = io.EOF
		return Row{}, io.EOF
	}
	if err == nil {
		err = checkAmountLimit(r.name, row)
	}
	if err != nil {
		r.err = err
		return Row{}, err
	}
	r.totals.add(row)
	return row, nil
}

// Totals returns what the reader summed over the rows returned so far.
func (r *Reader) Totals() Totals { return r.totals }

// ReadAll reads every row of a statement; it is meant for small files and tests.
func ReadAll(format Format, name string, r io.Reader, opts Options) ([]Row, Totals, error) {
	rd, err := Open(format, name, r, opts)
	if err != nil {
		return nil, Totals{}, err
	}
	var rows []Row
	for {
		row, err := rd.Next()
		if err == io.EOF {
			return rows, rd.Totals(), nil
		}
		if err != nil {
			return rows, rd.Totals(), err
		}
		rows = append(rows, row)
	}
}
