package sandbox

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/sandbox/billfault"
)

// StatementHeader is the first line of a sandbox statement (API.md "Sandbox channel statement").
var StatementHeader = []string{"trade_time", "type", "channel_trade_no", "channel_refund_no",
	"out_trade_no", "out_refund_no", "amount", "fee", "currency", "status"}

// ErrStatementNotReady is returned by Statement for a business date that has not begun.
var ErrStatementNotReady = errors.New("sandbox: statement date has not begun")

// stmtRow is one statement line before formatting.
type stmtRow struct {
	at          time.Time
	refund      bool
	tradeNo     string
	refundNo    string
	outTradeNo  string
	outRefundNo string
	amount, fee int64
	currency    string
	method      string
	payer       string
	subject     string
}

// Statement renders the statement CSV of business date (YYYY-MM-DD, in Options.Location):
// payments by pay time and refunds by refund success time, with injected discrepancies applied.
// Today's statement is partial (the sandbox serves it for demos); a future date is
// ErrStatementNotReady.
func (s *Server) Statement(date string) ([]byte, error) {
	lines, err := s.StatementLines(date)
	if err != nil {
		return nil, err
	}
	loc := s.opts.Location
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(StatementHeader); err != nil {
		return nil, fmt.Errorf("sandbox: write statement: %w", err)
	}
	for _, r := range lines {
		typ, cur := "payment", money.Currency(r.Currency)
		if r.Refund {
			typ = "refund"
		}
		rec := []string{r.At.In(loc).Format(time.DateTime), typ, r.TradeNo, r.RefundNo, r.OutTradeNo,
			r.OutRefundNo, money.Format(r.Amount, cur), money.Format(r.Fee, cur), r.Currency, "SUCCESS"}
		if err := w.Write(rec); err != nil {
			return nil, fmt.Errorf("sandbox: write statement: %w", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("sandbox: write statement: %w", err)
	}
	return buf.Bytes(), nil
}

// StatementLine is one line of a business date's statement, discrepancies applied (a dropped
// row is absent, a duplicated one appears twice). Protocol fronts write them in their channel's
// bill layout.
type StatementLine struct {
	At                                         time.Time
	Refund                                     bool
	TradeNo, RefundNo, OutTradeNo, OutRefundNo string
	Amount, Fee                                int64 // minor units, positive
	Currency                                   string
	PayMethod, Payer, Subject                  string // of the trade (empty on injected rows)
}

// StatementLines returns the statement of business date (YYYY-MM-DD, in Options.Location) as
// lines in order: payments by pay time and refunds by refund success time, with injected and
// random discrepancies applied. A future date is ErrStatementNotReady.
func (s *Server) StatementLines(date string) ([]StatementLine, error) {
	loc := s.opts.Location
	day, err := time.ParseInLocation(time.DateOnly, date, loc)
	if err != nil {
		return nil, fmt.Errorf("sandbox: statement date %q is not YYYY-MM-DD", date)
	}
	start, end := day, day.AddDate(0, 0, 1)
	if start.After(s.now()) {
		return nil, fmt.Errorf("%w: %s", ErrStatementNotReady, date)
	}
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(start) && t.Before(end) }

	var rows []stmtRow
	s.mu.Lock()
	for _, t := range s.trades {
		if t.Status == channel.StatusSucceeded && in(t.PaidAt) {
			rows = append(rows, stmtRow{at: t.PaidAt, tradeNo: t.TradeNo, outTradeNo: t.OutTradeNo,
				amount: t.Amount, fee: t.Fee, currency: t.Currency, method: t.PayMethod, payer: t.Payer, subject: t.Subject})
		}
	}
	for _, r := range s.refunds {
		if r.Status == channel.StatusSucceeded && in(r.SucceededAt) {
			row := stmtRow{at: r.SucceededAt, refund: true, tradeNo: r.TradeNo, refundNo: r.RefundNo,
				outTradeNo: r.OutTradeNo, outRefundNo: r.OutRefundNo, amount: r.Amount, fee: r.Fee, currency: r.Currency}
			if t := s.trades[r.OutTradeNo]; t != nil {
				row.method, row.payer, row.subject = t.PayMethod, t.Payer, t.Subject
			}
			rows = append(rows, row)
		}
	}
	injections := append([]Injection(nil), s.injections...)
	s.mu.Unlock()

	extras, err := billfault.Extras(injections, day, s.opts.TradeNoPrefix, s.opts.FeeRateBps)
	if err != nil {
		return nil, fmt.Errorf("sandbox: injected row fee: %w", err)
	}
	for _, x := range extras {
		rows = append(rows, stmtRow{at: x.At, tradeNo: x.TradeNo, outTradeNo: x.OutTradeNo,
			amount: x.Amount, fee: x.Fee, currency: x.Currency})
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		if a.refund != b.refund {
			return !a.refund
		}
		if a.tradeNo != b.tradeNo {
			return a.tradeNo < b.tradeNo
		}
		return a.refundNo < b.refundNo
	})

	rows = billfault.Apply(billfault.Faults{Injections: injections, DropRate: s.opts.StatementDropRate,
		AmountSkewRate: s.opts.StatementAmountSkewRate, Chance: s.chance}, rows,
		func(r *stmtRow) billfault.Target {
			return billfault.Target{Refund: r.refund, OutTradeNo: r.outTradeNo, OutRefundNo: r.outRefundNo,
				Amount: &r.amount, Fee: &r.fee}
		})
	var out []StatementLine
	for _, r := range rows {
		out = append(out, StatementLine{At: r.at, Refund: r.refund, TradeNo: r.tradeNo, RefundNo: r.refundNo,
			OutTradeNo: r.outTradeNo, OutRefundNo: r.outRefundNo, Amount: r.amount, Fee: r.fee,
			Currency: r.currency, PayMethod: r.method, Payer: r.payer, Subject: r.subject})
	}
	return out, nil
}

func (s *Server) handleStatement(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	date, ok := strings.CutSuffix(file, ".csv")
	if !ok {
		http.Error(w, "statement files are named YYYY-MM-DD.csv", http.StatusNotFound)
		return
	}
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		http.Error(w, "statement files are named YYYY-MM-DD.csv", http.StatusBadRequest)
		return
	}
	b, err := s.Statement(date)
	if errors.Is(err, ErrStatementNotReady) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+date+`.csv"`)
	w.Write(b)
}
