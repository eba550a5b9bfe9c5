package reconcile

import (
	"errors"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// TestAdjustmentRules: the signed difference accepting the channel's side posts, by class and
// kind, and the inputs refused before anything is written.
func TestAdjustmentRules(t *testing.T) {
	const big = int64(1) << 62
	base := paygw.ReconItem{ID: 7, Channel: "sandbox", MerchantID: "mch_a", Currency: "CNY", PaymentID: "pay_1"}
	item := func(class Class, kind Kind, ours, theirs int64, note string) paygw.ReconItem {
		it := base
		it.Class, it.Kind, it.Note = class, kind, note
		if kind == KindRefund {
			it.RefundID = "ref_1"
		}
		if class == AmountMismatch {
			it.InternalAmount, it.ChannelAmount = ours, theirs
		} else {
			it.InternalAmount, it.ChannelAmount = 1000, 1000
			it.InternalFee, it.ChannelFee = ours, theirs
		}
		return it
	}
	cases := []struct {
		name     string
		it       paygw.ReconItem
		kind     paygw.AdjustKind
		object   string
		want     int64
		refusing bool
	}{
		{"payment collected more: merchant owed more", item(AmountMismatch, KindPayment, 58299, 58399, ""), paygw.AdjustAmount, "pay_1", 100, false},
		{"payment collected less: merchant owed less", item(AmountMismatch, KindPayment, 58299, 58199, ""), paygw.AdjustAmount, "pay_1", -100, false},
		{"refund larger at the channel: merchant owes more", item(AmountMismatch, KindRefund, 500, 600, ""), paygw.AdjustAmount, "ref_1", -100, false},
		{"refund smaller at the channel: merchant owes less", item(AmountMismatch, KindRefund, 500, 450, ""), paygw.AdjustAmount, "ref_1", 50, false},
		{"payment fee higher: more cost", item(FeeMismatch, KindPayment, 30, 31, ""), paygw.AdjustFee, "pay_1", 1, false},
		{"payment fee lower: less cost", item(FeeMismatch, KindPayment, 30, 0, ""), paygw.AdjustFee, "pay_1", -30, false},
		{"refund returns more fee: less cost", item(FeeMismatch, KindRefund, 3, 9, ""), paygw.AdjustFee, "ref_1", -6, false},
		{"refund returns less fee: more cost", item(FeeMismatch, KindRefund, 3, 1, ""), paygw.AdjustFee, "ref_1", 2, false},
		{"one minor unit", item(AmountMismatch, KindPayment, 1, 2, ""), paygw.AdjustAmount, "pay_1", 1, false},
		{"at the maximum", item(AmountMismatch, KindPayment, 1, MaxAcceptedAmount, ""), paygw.AdjustAmount, "pay_1", MaxAcceptedAmount - 1, false},
		{"channel amount over the maximum", item(AmountMismatch, KindPayment, 1, MaxAcceptedAmount+1, ""), "", "", 0, true},
		{"channel fee over the maximum", item(FeeMismatch, KindPayment, 1, MaxAcceptedAmount+1, ""), "", "", 0, true},
		{"ours over the maximum", item(AmountMismatch, KindPayment, MaxAcceptedAmount+1, 5, ""), "", "", 0, true},
		{"huge channel amount", item(AmountMismatch, KindPayment, 1, big, ""), "", "", 0, true},
		{"no difference", item(AmountMismatch, KindPayment, 100, 100, ""), "", "", 0, true},
		{"channel amount zero", item(AmountMismatch, KindPayment, 100, 0, ""), "", "", 0, true},
		{"channel amount negative", item(AmountMismatch, KindPayment, 100, -5, ""), "", "", 0, true},
		{"channel fee negative", item(FeeMismatch, KindPayment, 30, -1, ""), "", "", 0, true},
		{"currencies differ", item(AmountMismatch, KindPayment, 100, 100, "channel 1.00 USD, paygw 1.00 CNY"), "", "", 0, true},
		{"currencies differ, amounts too", item(AmountMismatch, KindPayment, 100, 200, "matched by id; channel 2.00 USD, paygw 1.00 CNY"), "", "", 0, true},
		{"same currency note", item(AmountMismatch, KindPayment, 100, 200, "channel 2.00 CNY, paygw 1.00 CNY"), paygw.AdjustAmount, "pay_1", 100, false},
		{"difference overflows", item(AmountMismatch, KindPayment, -big*2, big, ""), "", "", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := adjustment(c.it, "alice", time.Unix(0, 0))
			if c.refusing {
				if !errors.Is(err, ErrCannotApply) {
					t.Fatalf("adjustment %+v, %v; want ErrCannotApply", a, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Kind != c.kind || a.ObjectID != c.object || a.Amount != c.want || a.ItemID != 7 || a.CreatedBy != "alice" || a.ID == "" {
				t.Errorf("adjustment %+v; want %s %s %d", a, c.kind, c.object, c.want)
			}
		})
	}
	noObject := item(AmountMismatch, KindPayment, 1, 2, "")
	noObject.PaymentID = ""
	if _, err := adjustment(noObject, "x", time.Unix(0, 0)); !errors.Is(err, ErrCannotApply) {
		t.Errorf("item without a transaction: %v", err)
	}
}
