// Package billfault falsifies the bills of the channel simulators, so that reconciliation finds
// something real: the discrepancies a test or demo injects (drop, amount, fee, duplicate, extra),
// which bill row each one selects, and the random drops and amount skews of a seeded simulator.
// A simulator gathers its own rows, has Apply and Extras falsify them and writes them in its
// channel's layout (the sandbox's statement CSV and WeChat Pay's bill through the sandbox core,
// Alipay's zip in alipaysim); the layouts, the order of rows and the random draw stay with it.
package billfault

import (
	"fmt"
	"time"

	"github.com/paygw/paygw/internal/money"
)

// Injection asks a simulator to falsify its bill. It is the body of the simulators' POST
// /admin/inject; each simulator checks it and fills in its defaults before keeping it.
type Injection struct {
	// Kind is one of: drop (leave the row out: missing_channel), amount (amount +Delta:
	// amount_mismatch), fee (fee +Delta: fee_mismatch), duplicate (print the row twice:
	// duplicate), extra (add a payment row the gateway never sent: missing_internal).
	Kind string `json:"kind"`
	// OutTradeNo (or OutRefundNo for a refund row) selects the row; for extra it is the
	// out_trade_no printed on the phantom row (default: generated).
	OutTradeNo  string `json:"out_trade_no,omitempty"`
	OutRefundNo string `json:"out_refund_no,omitempty"`
	// Delta in minor units for amount and fee (default 1).
	Delta int64 `json:"delta,omitempty"`
	// Date (YYYY-MM-DD) and Amount/Currency of an extra row (defaults: today, 100, CNY).
	Date     string `json:"date,omitempty"`
	Amount   int64  `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
}

// Injection kinds.
const (
	Drop      = "drop"
	Amount    = "amount"
	Fee       = "fee"
	Duplicate = "duplicate"
	Extra     = "extra"
)

// Target is what the faults read and change of one bill row: the numbers that select it and
// pointers to its amount and fee.
type Target struct {
	Refund                  bool
	OutTradeNo, OutRefundNo string
	Amount, Fee             *int64
}

// selects reports whether the injection acts on the row: out_refund_no selects a refund row,
// otherwise out_trade_no selects a payment row. An extra row selects none.
func (in Injection) selects(t Target) bool {
	if in.Kind == Extra {
		return false
	}
	if in.OutRefundNo != "" {
		return t.Refund && t.OutRefundNo == in.OutRefundNo
	}
	return !t.Refund && t.OutTradeNo == in.OutTradeNo
}

// Faults are what falsifies one bill.
type Faults struct {
	// Injections in the order they were made: each acts on the row as the earlier ones left it.
	Injections []Injection
	// DropRate is the probability that a row is left out; AmountSkewRate that its amount is one
	// minor unit too high. Each row decides by Chance, keyed by its out_refund_no (refunds) or
	// out_trade_no (payments), so a seeded simulator prints the same bill on every download.
	DropRate, AmountSkewRate float64
	// Chance is the simulator's repeatable draw of an event of probability p named by parts.
	Chance func(p float64, parts ...string) bool
}

// Apply returns rows as the bill prints them: each row dropped at random, its amount skewed at
// random, then changed by the injections that select it, and printed as many times as they
// leave it (none after a drop, one more after each duplicate). target gives the faults a row's
// selecting numbers and its amount and fee.
func Apply[R any](f Faults, rows []R, target func(*R) Target) []R {
	var out []R
	for _, r := range rows {
		t := target(&r)
		key := t.OutTradeNo
		if t.Refund {
			key = t.OutRefundNo
		}
		if f.Chance(f.DropRate, "stmt-drop", key) {
			continue
		}
		if f.Chance(f.AmountSkewRate, "stmt-amount", key) {
			*t.Amount++
		}
		copies := 1
		for _, in := range f.Injections {
			if !in.selects(t) {
				continue
			}
			switch in.Kind {
			case Drop:
				copies = 0
			case Amount:
				*t.Amount += in.Delta
			case Fee:
				*t.Fee += in.Delta
			case Duplicate:
				copies++
			}
		}
		for range copies {
			out = append(out, r)
		}
	}
	return out
}

// Row is a payment row an extra injection adds to a bill.
type Row struct {
	At          time.Time
	TradeNo     string
	OutTradeNo  string
	Amount, Fee int64 // minor units; the fee at the simulator's rate
	Currency    string
}

// Extras returns the payment rows the extra injections of day's date add to its bill, in
// injection order: at noon of day (midnight in the bill's location), trade number
// <prefix><yyyymmdd>X<nnnn> with nnnn the injection's place in injections, fee at feeRateBps.
// The rows go through Apply with the others.
func Extras(injections []Injection, day time.Time, tradeNoPrefix string, feeRateBps int64) ([]Row, error) {
	date := day.Format(time.DateOnly)
	var out []Row
	for i, in := range injections {
		if in.Kind != Extra || in.Date != date {
			continue
		}
		fee, err := money.Bps(in.Amount, feeRateBps)
		if err != nil {
			return nil, err
		}
		out = append(out, Row{At: day.Add(12 * time.Hour), TradeNo: fmt.Sprintf("%s%sX%04d", tradeNoPrefix, day.Format("20060102"), i+1),
			OutTradeNo: in.OutTradeNo, Amount: in.Amount, Fee: fee, Currency: in.Currency})
	}
	return out, nil
}
