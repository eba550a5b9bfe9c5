package reconcile

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paygw/paygw/internal/statement"
)

var (
	shanghai = time.FixedZone("Asia/Shanghai", 8*3600)
	dayStart = time.Date(2026, 11, 22, 0, 0, 0, 0, shanghai).UTC()
	dayEnd   = dayStart.Add(24 * time.Hour)
	noon     = dayStart.Add(12 * time.Hour)
)

func pay(id, ctn string, amount int64, status string, at time.Time) Ours {
	collected := status == "succeeded" || status == "partially_refunded" || status == "refunded"
	o := Ours{Kind: KindPayment, PaymentID: id, MerchantID: "mch_1", ChannelTradeNo: ctn, Amount: amount,
		Currency: "CNY", Status: status, Collected: collected}
	if collected {
		o.At = at
	}
	return o
}

func ref(id, payID, crn string, amount, payAmount int64, status string, at time.Time, earlier ...int64) Ours {
	o := Ours{Kind: KindRefund, PaymentID: payID, RefundID: id, MerchantID: "mch_1", ChannelRefundNo: crn,
		Amount: amount, Currency: "CNY", Status: status, Collected: status == "succeeded",
		PaymentAmount: payAmount, EarlierRefunds: earlier}
	if o.Collected {
		o.At = at
	}
	return o
}

func srowP(line int, ctn, out string, amount, fee int64, status string, at time.Time) statement.Row {
	return statement.Row{Line: line, Kind: statement.KindPayment, TradeTime: at, ChannelTradeNo: ctn, OutTradeNo: out,
		Amount: amount, Fee: fee, Currency: "CNY", Status: status}
}

func srowR(line int, ctn, crn, out, outRef string, amount, fee int64, at time.Time) statement.Row {
	return statement.Row{Line: line, Kind: statement.KindRefund, TradeTime: at, ChannelTradeNo: ctn, ChannelRefundNo: crn,
		OutTradeNo: out, OutRefundNo: outRef, Amount: amount, Fee: fee, Currency: "CNY", Status: statement.StatusSucceeded}
}

// outcome is what a test compares: class and the ids, per item.
type outcome struct {
	Class     Class
	ID        string // payment or refund id, or the channel number for missing_internal/duplicate
	Reconcile bool
	Resolves  bool
}

// matchAll is the whole matching of one date, as Run drives it, without the lookups beyond the window.
func matchAll(t *testing.T, p Params, rows []statement.Row, ours []Ours, found ...Ours) []outcome {
	t.Helper()
	m := NewMatcher(p, len(rows))
	var got []outcome
	add := func(it Item) {
		id := it.PaymentID
		if it.Kind == KindRefund {
			id = it.RefundID
		}
		if it.Class == MissingInternal || it.Class == Duplicate {
			id = it.ChannelTradeNo + "/" + it.ChannelRefundNo
		}
		got = append(got, outcome{it.Class, id, it.Reconcile, it.ResolvesPending})
	}
	for _, r := range rows {
		it, dup, err := m.Add(r)
		if err != nil {
			t.Fatal(err)
		}
		if dup {
			add(it)
		}
	}
	for _, o := range ours {
		it, ok, err := m.Match(o)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			add(it)
		}
	}
	for _, o := range found {
		if it, ok, err := m.MatchFound(o); err != nil {
			t.Fatal(err)
		} else if ok {
			add(it)
		}
	}
	if err := m.Finish(func(it Item) error { add(it); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return fmt.Sprint(got[i]) < fmt.Sprint(got[j]) })
	return got
}

func TestMatch(t *testing.T) {
	base := Params{Start: dayStart, End: dayEnd, PendingWindow: 30 * time.Minute, FeeRateBps: 30}
	late := dayEnd.Add(-10 * time.Minute)
	early := dayStart.Add(5 * time.Minute)
	tests := []struct {
		name  string
		p     func(*Params)
		rows  []statement.Row
		ours  []Ours
		found []Ours
		want  []outcome
	}{
		{name: "matched by channel trade no",
			rows: []statement.Row{srowP(2, "C1", "pay_1", 10000, 30, "succeeded", noon)},
			ours: []Ours{pay("pay_1", "C1", 10000, "succeeded", noon)},
			want: []outcome{{Matched, "pay_1", true, false}}},
		{name: "matched by payment id when paygw has no channel trade no",
			rows: []statement.Row{srowP(2, "C1", "pay_1", 10000, 30, "succeeded", noon)},
			ours: []Ours{pay("pay_1", "", 10000, "succeeded", noon)},
			want: []outcome{{Matched, "pay_1", true, false}}},
		{name: "fee rounds half up",
			rows: []statement.Row{srowP(2, "C1", "pay_1", 1234, 4, "succeeded", noon)}, // 3.702 -> 4
			ours: []Ours{pay("pay_1", "C1", 1234, "succeeded", noon)},
			want: []outcome{{Matched, "pay_1", true, false}}},
		{name: "missing internal",
			rows: []statement.Row{srowP(2, "C9", "pay_9", 500, 2, "succeeded", noon)},
			want: []outcome{{MissingInternal, "C9/", false, false}}},
		{name: "missing channel",
			ours: []Ours{pay("pay_1", "C1", 500, "succeeded", noon)},
			want: []outcome{{MissingChannel, "pay_1", false, false}}},
		{name: "unpaid and absent is nothing",
			ours: []Ours{pay("pay_1", "", 500, "closed", noon), pay("pay_2", "", 500, "processing", noon)}},
		{name: "amount mismatch",
			rows: []statement.Row{srowP(2, "C1", "pay_1", 10001, 30, "succeeded", noon)},
			ours: []Ours{pay("pay_1", "C1", 10000, "succeeded", noon)},
			want: []outcome{{AmountMismatch, "pay_1", false, false}}},
		{name: "status mismatch: channel collected, ours processing, failed, closed",
			rows: []statement.Row{srowP(2, "C1", "pay_1", 100, 0, "succeeded", noon), srowP(3, "C2", "pay_2", 100, 0, "succeeded", noon),
				srowP(4, "C3", "pay_3", 100, 0, "succeeded", noon)},
			ours: []Ours{pay("pay_1", "", 100, "processing", noon), pay("pay_2", "", 100, "failed", noon), pay("pay_3", "C3", 100, "closed", noon)},
			want: []outcome{{StatusMismatch, "pay_1", false, false}, {StatusMismatch, "pay_2", false, false}, {StatusMismatch, "pay_3", false, false}}},
		{name: "status mismatch the other way: revoked at the channel",
			rows: []statement.Row{srowP(2, "C1", "pay_1", 100, 0, statement.StatusRevoked, noon)},
			ours: []Ours{pay("pay_1", "C1", 100, "succeeded", noon)},
			want: []outcome{{StatusMismatch, "pay_1", false, false}}},
		{name: "status before amount",
			rows: []statement.Row{srowP(2, "C1", "pay_1", 999, 0, "succeeded", noon)},
			ours: []Ours{pay("pay_1", "C1", 100, "processing", noon)},
			want: []outcome{{StatusMismatch, "pay_1", false, false}}},
		{name: "fee mismatch",
			rows: []statement.Row{srowP(2, "C1", "pay_1", 10000, 31, "succeeded", noon)},
			ours: []Ours{pay("pay_1", "C1", 10000, "succeeded", noon)},
			want: []outcome{{FeeMismatch, "pay_1", false, false}}},
		{name: "refunded payment still matches its payment row",
			rows: []statement.Row{srowP(2, "C1", "pay_1", 10000, 30, "succeeded", noon)},
			ours: []Ours{pay("pay_1", "C1", 10000, "refunded", noon)},
			want: []outcome{{Matched, "pay_1", true, false}}},
		{name: "refunds: proportional fee, completing refund returns the rest, match by out_refund_no",
			rows: []statement.Row{
				srowR(2, "C1", "R1", "pay_1", "ref_1", 3333, 10, noon), // 30*3333/10000 = 9.999 -> 10
				srowR(3, "C1", "", "pay_1", "ref_2", 6667, 20, noon),   // completing: 30 - 10
				srowR(4, "C2", "R3", "pay_2", "ref_3", 500, 99, noon),  // fee mismatch
				srowR(5, "C3", "R4", "pay_3", "ref_4", 500, 2, noon),   // amount mismatch
				srowR(6, "C4", "R5", "pay_4", "ref_5", 500, 2, noon),   // status mismatch
				srowR(7, "C5", "R6", "pay_5", "ref_6", 500, 2, noon),   // missing internal
			},
			ours: []Ours{
				ref("ref_1", "pay_1", "R1", 3333, 10000, "succeeded", noon),
				ref("ref_2", "pay_1", "", 6667, 10000, "succeeded", noon, 3333),
				ref("ref_3", "pay_2", "R3", 500, 1000, "succeeded", noon),
				ref("ref_4", "pay_3", "R4", 400, 1000, "succeeded", noon),
				ref("ref_5", "pay_4", "R5", 500, 1000, "processing", noon),
				ref("ref_7", "pay_6", "R7", 500, 1000, "succeeded", noon), // missing channel
			},
			want: []outcome{
				{AmountMismatch, "ref_4", false, false}, {FeeMismatch, "ref_3", false, false},
				{Matched, "ref_1", true, false}, {Matched, "ref_2", true, false},
				{MissingChannel, "ref_7", false, false}, {MissingInternal, "C5/R6", false, false},
				{StatusMismatch, "ref_5", false, false},
			}},
		{name: "duplicates: payment twice, refund twice; payment and refund rows of one trade are not duplicates",
			rows: []statement.Row{
				srowP(2, "C1", "pay_1", 10000, 30, "succeeded", noon),
				srowP(3, "C1", "pay_1", 10000, 30, "succeeded", noon),
				srowR(4, "C1", "R1", "pay_1", "ref_1", 100, 0, noon),
				srowR(5, "C1", "R1", "pay_1", "ref_1", 100, 0, noon),
			},
			ours: []Ours{pay("pay_1", "C1", 10000, "partially_refunded", noon), ref("ref_1", "pay_1", "R1", 100, 10000, "succeeded", noon)},
			want: []outcome{{Duplicate, "C1/", false, false}, {Duplicate, "C1/R1", false, false}, {Matched, "pay_1", true, false}, {Matched, "ref_1", true, false}}},
		{name: "cross-day: near the end of the day and absent is pending until the next date ran",
			ours: []Ours{pay("pay_1", "C1", 100, "succeeded", late), pay("pay_2", "C2", 100, "succeeded", early)},
			want: []outcome{{Pending, "pay_1", false, false}, {Pending, "pay_2", false, false}}},
		{name: "cross-day: neighbours reconciled, so absent is missing",
			p:    func(p *Params) { p.PrevDone, p.NextDone = true, true },
			ours: []Ours{pay("pay_1", "C1", 100, "succeeded", late), pay("pay_2", "C2", 100, "succeeded", early)},
			want: []outcome{{MissingChannel, "pay_1", false, false}, {MissingChannel, "pay_2", false, false}}},
		{name: "cross-day: neighbour matched it already",
			p:    func(p *Params) { p.NextDone = true },
			ours: []Ours{func() Ours { o := pay("pay_1", "C1", 100, "succeeded", late); o.Reconciled = true; return o }()},
		},
		{name: "cross-day next run: yesterday's pending turns up and is resolved",
			p:    func(p *Params) { p.OpenPending = map[string]bool{"payment:pay_0": true, "payment:pay_9": true} },
			rows: []statement.Row{srowP(2, "C0", "pay_0", 100, 0, "succeeded", early)},
			ours: []Ours{
				pay("pay_0", "C0", 100, "succeeded", dayStart.Add(-5*time.Minute)), // yesterday's, booked today
				pay("pay_9", "C9", 100, "succeeded", dayStart.Add(-3*time.Minute)), // yesterday's, on neither
				pay("pay_8", "C8", 100, "succeeded", dayStart.Add(-8*time.Minute)), // yesterday's, matched there
			},
			want: []outcome{{Matched, "pay_0", true, true}, {MissingChannel, "pay_9", false, true}}},
		{name: "rows beyond the window claimed by what the store found",
			rows:  []statement.Row{srowP(2, "C1", "pay_1", 100, 0, "succeeded", noon)},
			found: []Ours{pay("pay_1", "", 100, "processing", time.Time{})},
			want:  []outcome{{StatusMismatch, "pay_1", false, false}}},
		{name: "empty day"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			if tc.p != nil {
				tc.p(&p)
			}
			got := matchAll(t, p, tc.rows, tc.ours, tc.found...)
			sort.Slice(tc.want, func(i, j int) bool { return fmt.Sprint(tc.want[i]) < fmt.Sprint(tc.want[j]) })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchItemFields(t *testing.T) {
	p := Params{Start: dayStart, End: dayEnd, FeeRateBps: 30}
	m := NewMatcher(p, 1)
	if _, _, err := m.Add(srowP(7, "C1", "pay_1", 10001, 30, "succeeded", noon)); err != nil {
		t.Fatal(err)
	}
	it, ok, err := m.Match(pay("pay_1", "C1", 10000, "succeeded", noon))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := Item{Class: AmountMismatch, Kind: KindPayment, PaymentID: "pay_1", MerchantID: "mch_1", ChannelTradeNo: "C1",
		Currency: "CNY", InternalAmount: 10000, ChannelAmount: 10001, InternalFee: 30, ChannelFee: 30,
		InternalStatus: "succeeded", ChannelStatus: "succeeded", TradeTime: noon, Line: 7,
		Note: "channel 100.01 CNY, paygw 100.00 CNY"}
	if diff := cmp.Diff(want, it); diff != "" {
		t.Errorf("item (-want +got):\n%s", diff)
	}
}
