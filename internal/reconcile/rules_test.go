package reconcile

import (
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// TestResolutionReconciles: which resolutions make a transaction eligible for settlement.
func TestResolutionReconciles(t *testing.T) {
	for _, c := range []struct {
		name       string
		resolution paygw.ReconResolution
		class      paygw.ReconClass
		want       bool
	}{
		{"accept channel on a shortfall: never collected, never paid out", paygw.ReconAcceptChannel, MissingChannel, false},
		{"accept ours on a shortfall: a claim against the channel", paygw.ReconAcceptOurs, MissingChannel, true},
		{"accept channel on an amount mismatch", paygw.ReconAcceptChannel, AmountMismatch, true},
		{"accept channel on a fee mismatch", paygw.ReconAcceptChannel, FeeMismatch, true},
		{"accept channel on a status mismatch", paygw.ReconAcceptChannel, StatusMismatch, true},
		{"auto on pending", paygw.ReconAuto, Pending, true},
	} {
		if got := ResolutionReconciles(c.resolution, c.class); got != c.want {
			t.Errorf("%s: ResolutionReconciles(%s, %s) = %v, want %v", c.name, c.resolution, c.class, got, c.want)
		}
	}
}

// TestHasInternal: every class names a payment or refund of paygw's except the statement-only ones.
func TestHasInternal(t *testing.T) {
	want := map[paygw.ReconClass]bool{Matched: true, MissingInternal: false, MissingChannel: true, AmountMismatch: true,
		StatusMismatch: true, FeeMismatch: true, Duplicate: false, Pending: true}
	if len(want) != len(Classes) {
		t.Fatalf("table has %d classes, Classes %d", len(want), len(Classes))
	}
	for _, c := range Classes {
		if got := HasInternal(&paygw.ReconItem{Class: c}); got != want[c] {
			t.Errorf("HasInternal(%s) = %v, want %v", c, got, want[c])
		}
	}
}

// TestSameAs: a resolution carries over to a re-run's item only when what was decided on is
// unchanged; ids, notes, lines and resolution fields do not matter.
func TestSameAs(t *testing.T) {
	at := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	base := paygw.ReconItem{Class: AmountMismatch, Kind: KindPayment, PaymentID: "pay_1", ChannelTradeNo: "C1", Currency: "CNY",
		InternalAmount: 100, ChannelAmount: 90, InternalFee: 1, ChannelFee: 1, InternalStatus: "succeeded", ChannelStatus: "SUCCESS"}
	same := []struct {
		name string
		edit func(*paygw.ReconItem)
	}{
		{"another id and run", func(it *paygw.ReconItem) { it.ID, it.RunID = 9, "rcn_2" }},
		{"another line and note", func(it *paygw.ReconItem) { it.Line, it.Note = 7, "x" }},
		{"resolved", func(it *paygw.ReconItem) {
			it.State, it.Resolution, it.ResolvedBy, it.ResolvedAt = paygw.ReconItemResolved, paygw.ReconAcceptOurs, "a", &at
		}},
		{"another expected fee", func(it *paygw.ReconItem) { it.InternalFee = 2 }},
	}
	for _, c := range same {
		it := base
		c.edit(&it)
		if sameAs(&it) != sameAs(&base) {
			t.Errorf("%s: not the same item", c.name)
		}
	}
	differ := []struct {
		name string
		edit func(*paygw.ReconItem)
	}{
		{"class", func(it *paygw.ReconItem) { it.Class = FeeMismatch }},
		{"kind", func(it *paygw.ReconItem) { it.Kind = KindRefund }},
		{"payment", func(it *paygw.ReconItem) { it.PaymentID = "pay_2" }},
		{"refund", func(it *paygw.ReconItem) { it.RefundID = "ref_1" }},
		{"channel trade no", func(it *paygw.ReconItem) { it.ChannelTradeNo = "C2" }},
		{"channel refund no", func(it *paygw.ReconItem) { it.ChannelRefundNo = "R1" }},
		{"our amount", func(it *paygw.ReconItem) { it.InternalAmount = 101 }},
		{"channel amount", func(it *paygw.ReconItem) { it.ChannelAmount = 91 }},
		{"channel fee", func(it *paygw.ReconItem) { it.ChannelFee = 2 }},
		{"channel status", func(it *paygw.ReconItem) { it.ChannelStatus = "REFUND" }},
		{"our status", func(it *paygw.ReconItem) { it.InternalStatus = "refunded" }},
		{"fields not run together", func(it *paygw.ReconItem) { it.PaymentID, it.RefundID = "", "pay_1" }},
	}
	for _, c := range differ {
		it := base
		c.edit(&it)
		if sameAs(&it) == sameAs(&base) {
			t.Errorf("%s changed but the item is the same: a resolution would carry over to a different decision", c.name)
		}
	}
}
