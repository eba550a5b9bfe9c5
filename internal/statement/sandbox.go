package statement

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"

	"github.com/paygw/paygw/internal/money"
)

// sandboxHeader is the exact header of the sandbox channel's statement (API.md).
var sandboxHeader = []string{"trade_time", "type", "channel_trade_no", "channel_refund_no",
	"out_trade_no", "out_refund_no", "amount", "fee", "currency", "status"}

// sandboxStatuses are the status words the sandbox channel prints.
var sandboxStatuses = map[string]bool{"SUCCESS": true, "PROCESSING": true, "FAILED": true, "CLOSED": true, "REVOKED": true}

type sandboxSource struct {
	name string
	opts Options
	cr   *csv.Reader
	lim  *recordLimit
}

func openSandbox(name string, r io.Reader, opts Options) (source, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\uFEFF" {
		_, _ = br.Discard(3)
	}
	lim := &recordLimit{name: name, r: br}
	cr := csv.NewReader(lim)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, &Error{File: name, Line: 1, Msg: "empty file: missing header"}
	}
	if err != nil {
		return nil, csvErr(name, err)
	}
	if len(head) != len(sandboxHeader) {
		return nil, &Error{File: name, Line: 1, Msg: fmt.Sprintf("header has %d columns, want %d: %v", len(head), len(sandboxHeader), sandboxHeader)}
	}
	for i, h := range head {
		if h != sandboxHeader[i] {
			return nil, &Error{File: name, Line: 1, Field: sandboxHeader[i], Msg: fmt.Sprintf("header column %d is %q, want %q", i+1, short(h), sandboxHeader[i])}
		}
	}
	cr.FieldsPerRecord = len(sandboxHeader)
	lim.mark = cr.InputOffset()
	return &sandboxSource{name: name, opts: opts, cr: cr, lim: lim}, nil
}

// csvErr turns an encoding/csv error into an *Error with its line.
func csvErr(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{File: name, Line: pe.Line, Msg: "bad CSV", Err: pe.Err}
	}
	return fmt.Errorf("read %s: %w", name, err)
}

func (s *sandboxSource) next() (Row, error) {
	rec, err := s.cr.Read()
	if err != nil {
		if err == io.EOF {
			return Row{}, io.EOF
		}
		return Row{}, csvErr(s.name, err)
	}
	s.lim.mark = s.cr.InputOffset()
	line, _ := s.cr.FieldPos(0)
	return parseSandboxRecord(s.name, line, rec, s.opts)
}

func parseSandboxRecord(name string, line int, rec []string, opts Options) (Row, error) {
	row := Row{Line: line}
	var err error
	if row.TradeTime, err = parseBillTime(name, line, "trade_time", rec[0], opts.Location); err != nil {
		return Row{}, err
	}
	switch rec[1] {
	case "payment":
		row.Kind = KindPayment
	case "refund":
		row.Kind = KindRefund
	default:
		return Row{}, fieldErr(name, line, "type", "%q is neither payment nor refund", short(rec[1]))
	}
	refund := row.Kind == KindRefund
	for i := 2; i <= 5; i++ {
		required := i == 2 || i == 4 || refund
		if err := checkID(name, line, sandboxHeader[i], rec[i], required); err != nil {
			return Row{}, err
		}
		if !refund && !required && rec[i] != "" {
			return Row{}, fieldErr(name, line, sandboxHeader[i], "must be empty on a payment row")
		}
	}
	row.ChannelTradeNo, row.ChannelRefundNo, row.OutTradeNo, row.OutRefundNo = rec[2], rec[3], rec[4], rec[5]
	if row.Currency, err = parseCurrency(name, line, "currency", rec[8], ""); err != nil {
		return Row{}, err
	}
	if row.Currency == "" {
		return Row{}, fieldErr(name, line, "currency", "empty")
	}
	if row.Amount, err = parseAmount(name, line, "amount", rec[6], row.Currency, false); err != nil {
		return Row{}, err
	}
	if row.Amount <= 0 {
		return Row{}, fieldErr(name, line, "amount", "must be positive, got %q", short(rec[6]))
	}
	if row.Fee, err = parseAmount(name, line, "fee", rec[7], row.Currency, false); err != nil {
		return Row{}, err
	}
	if row.Fee < 0 {
		return Row{}, fieldErr(name, line, "fee", "must not be negative, got %q", short(rec[7]))
	}
	if !sandboxStatuses[rec[9]] {
		return Row{}, fieldErr(name, line, "status", "unknown status %q", short(rec[9]))
	}
	row.Status = normalizeStatus(row.Kind, rec[9])
	return row, nil
}

// The sandbox CSV has no totals of its own.
func (s *sandboxSource) verify() error { return nil }

// WriteSandbox writes rows as the sandbox channel's statement CSV (API.md): header line, then one
// line per row with times in Asia/Shanghai and amounts in major units.
func WriteSandbox(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(sandboxHeader); err != nil {
		return fmt.Errorf("write sandbox statement: %w", err)
	}
	rec := make([]string, len(sandboxHeader))
	for i, r := range rows {
		if err := checkWritable(r); err != nil {
			return fmt.Errorf("write sandbox statement: row %d: %w", i+1, err)
		}
		cur := currencyOf(r)
		rec[0] = formatTime(r.TradeTime, DefaultLocation)
		rec[1] = string(r.Kind)
		rec[2], rec[3], rec[4], rec[5] = r.ChannelTradeNo, r.ChannelRefundNo, r.OutTradeNo, r.OutRefundNo
		if r.Kind == KindPayment {
			rec[3], rec[5] = "", ""
		}
		rec[6] = formatMoney(r.Amount, cur)
		rec[7] = formatMoney(r.Fee, cur)
		rec[8] = string(cur)
		rec[9] = sandboxStatus(r.Status)
		if !sandboxStatuses[rec[9]] {
			return fmt.Errorf("write sandbox statement: row %d: status %q has no sandbox form", i+1, r.Status)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write sandbox statement: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write sandbox statement: %w", err)
	}
	return nil
}

// checkWritable refuses rows no format can represent.
func checkWritable(r Row) error {
	if r.Kind != KindPayment && r.Kind != KindRefund {
		return fmt.Errorf("kind %q is neither payment nor refund", r.Kind)
	}
	if r.TradeTime.IsZero() {
		return errors.New("zero trade time")
	}
	if y := r.TradeTime.In(DefaultLocation).Year(); y < 1 || y > 9999 {
		return fmt.Errorf("trade time %v out of range", r.TradeTime)
	}
	if !currencyOf(r).Valid() {
		return fmt.Errorf("unknown currency %q", r.Currency)
	}
	return nil
}

// formatMoney prints minor units in major units of cur.
func formatMoney(v int64, cur money.Currency) string { return money.Format(v, cur) }
