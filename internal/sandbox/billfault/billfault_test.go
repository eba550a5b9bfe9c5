package billfault

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/money"
)

type row struct {
	refund      bool
	out, outRef string
	amount, fee int64
}

func target(r *row) Target {
	return Target{Refund: r.refund, OutTradeNo: r.out, OutRefundNo: r.outRef, Amount: &r.amount, Fee: &r.fee}
}

// never draws no random fault.
func never(float64, ...string) bool { return false }

// TestApply pins each injection kind, the row it selects (out_refund_no a refund row, otherwise
// out_trade_no a payment row) and the order injections act in.
func TestApply(t *testing.T) {
	pay := row{out: "p1", amount: 1000, fee: 6}
	ref := row{refund: true, out: "p1", outRef: "r1", amount: 300, fee: 2}
	other := row{out: "p2", amount: 50, fee: 0}
	rows := []row{pay, ref, other}
	with := func(r row, f func(*row)) row { f(&r); return r }
	tests := []struct {
		name string
		inj  []Injection
		want []row
	}{
		{"none", nil, rows},
		{"drop a payment", []Injection{{Kind: Drop, OutTradeNo: "p1"}}, []row{ref, other}},
		{"drop a refund", []Injection{{Kind: Drop, OutRefundNo: "r1"}}, []row{pay, other}},
		{"out_refund_no selects only the refund", []Injection{{Kind: Drop, OutTradeNo: "p2", OutRefundNo: "r1"}},
			[]row{pay, other}},
		{"amount", []Injection{{Kind: Amount, OutTradeNo: "p1", Delta: 5}},
			[]row{with(pay, func(r *row) { r.amount = 1005 }), ref, other}},
		{"amounts add up", []Injection{{Kind: Amount, OutTradeNo: "p1", Delta: 5}, {Kind: Amount, OutTradeNo: "p1", Delta: -7}},
			[]row{with(pay, func(r *row) { r.amount = 998 }), ref, other}},
		{"fee of a refund", []Injection{{Kind: Fee, OutRefundNo: "r1", Delta: 2}},
			[]row{pay, with(ref, func(r *row) { r.fee = 4 }), other}},
		{"duplicate", []Injection{{Kind: Duplicate, OutTradeNo: "p2"}}, []row{pay, ref, other, other}},
		{"duplicate twice", []Injection{{Kind: Duplicate, OutTradeNo: "p2"}, {Kind: Duplicate, OutTradeNo: "p2"}},
			[]row{pay, ref, other, other, other}},
		{"duplicate then drop", []Injection{{Kind: Duplicate, OutTradeNo: "p2"}, {Kind: Drop, OutTradeNo: "p2"}},
			[]row{pay, ref}},
		{"drop then duplicate", []Injection{{Kind: Drop, OutTradeNo: "p2"}, {Kind: Duplicate, OutTradeNo: "p2"}},
			[]row{pay, ref, other}},
		{"a duplicate carries the changes", []Injection{{Kind: Duplicate, OutTradeNo: "p1"}, {Kind: Fee, OutTradeNo: "p1", Delta: 1}},
			[]row{with(pay, func(r *row) { r.fee = 7 }), with(pay, func(r *row) { r.fee = 7 }), ref, other}},
		{"extra selects nothing", []Injection{{Kind: Extra, OutTradeNo: "p1"}}, rows},
		{"no such row", []Injection{{Kind: Drop, OutTradeNo: "p9"}, {Kind: Drop, OutRefundNo: "p1"}}, rows},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]row(nil), rows...)
			got := Apply(Faults{Injections: tt.inj, Chance: never}, in, target)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if !reflect.DeepEqual(in, rows) {
				t.Errorf("the input rows changed: %+v", in)
			}
		})
	}
}

// TestApplyRandom: the random faults are drawn with the rates given, named "stmt-drop" and
// "stmt-amount" with the row's out_refund_no (refunds) or out_trade_no (payments), before the
// injections act.
func TestApplyRandom(t *testing.T) {
	var asked []string
	chance := func(p float64, parts ...string) bool {
		asked = append(asked, strings.Join(parts, "/"))
		switch {
		case p == 0.25 && parts[0] == "stmt-drop":
			return parts[1] == "r1"
		case p == 0.5 && parts[0] == "stmt-amount":
			return parts[1] == "p1"
		}
		t.Fatalf("chance(%v, %v)", p, parts)
		return false
	}
	rows := []row{{out: "p1", amount: 1000}, {refund: true, out: "p1", outRef: "r1", amount: 300}, {out: "p2", amount: 50}}
	got := Apply(Faults{DropRate: 0.25, AmountSkewRate: 0.5, Chance: chance,
		Injections: []Injection{{Kind: Amount, OutTradeNo: "p1", Delta: 10}}}, rows, target)
	want := []row{{out: "p1", amount: 1011}, {out: "p2", amount: 50}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if w := []string{"stmt-drop/p1", "stmt-amount/p1", "stmt-drop/r1", "stmt-drop/p2", "stmt-amount/p2"}; !reflect.DeepEqual(asked, w) {
		t.Errorf("draws %v, want %v", asked, w)
	}
}

// TestExtras: only extra injections of the bill's date add rows, at noon, numbered by their
// place among all injections, with the fee at the rate (half up).
func TestExtras(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, cst)
	injs := []Injection{
		{Kind: Drop, OutTradeNo: "p1"},
		{Kind: Extra, Date: "2026-11-22", OutTradeNo: "phantom_a", Amount: 1234, Currency: "CNY"},
		{Kind: Extra, Date: "2026-11-21", OutTradeNo: "phantom_b", Amount: 100},
		{Kind: Extra, Date: "2026-11-22", OutTradeNo: "phantom_c", Amount: 100, Currency: "JPY"},
	}
	got, err := Extras(injs, day, "SBX", 30)
	if err != nil {
		t.Fatal(err)
	}
	noon := time.Date(2026, 11, 22, 12, 0, 0, 0, cst)
	want := []Row{
		{At: noon, TradeNo: "SBX20261122X0002", OutTradeNo: "phantom_a", Amount: 1234, Fee: 4, Currency: "CNY"},
		{At: noon, TradeNo: "SBX20261122X0004", OutTradeNo: "phantom_c", Amount: 100, Fee: 0, Currency: "JPY"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got, err := Extras(injs[:1], day, "", 30); err != nil || len(got) != 0 {
		t.Errorf("no extra: %v %v", got, err)
	}
	if _, err := Extras([]Injection{{Kind: Extra, Date: "2026-11-22", Amount: math.MaxInt64}}, day, "", 20000); !errors.Is(err, money.ErrOverflow) {
		t.Errorf("fee overflow: %v", err)
	}
}
