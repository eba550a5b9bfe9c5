package gateway

import (
	"errors"
	"fmt"
	"testing"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

func TestFinishedRemembersFinalPaymentsBounded(t *testing.T) {
	var f finished
	f.add(paygw.Payment{ID: "pay_open", Status: paygw.PaymentProcessing, Channel: "c", Amount: 1})
	if _, ok := f.get("pay_open"); ok {
		t.Fatal("a payment that is not final was remembered")
	}
	for i := 0; i < 2*finishedGeneration+1; i++ {
		f.add(paygw.Payment{ID: fmt.Sprintf("pay_%d", i), Status: paygw.PaymentSucceeded, Channel: "c", Amount: int64(i + 1)})
	}
	if _, ok := f.get("pay_0"); ok {
		t.Fatal("the oldest generation was not forgotten")
	}
	last := fmt.Sprintf("pay_%d", 2*finishedGeneration)
	if p, ok := f.get(last); !ok || p.amount != 2*finishedGeneration+1 || p.channel != "c" {
		t.Fatalf("newest payment %+v %v", p, ok)
	}
	if n := len(f.cur) + len(f.prev); n > 2*finishedGeneration {
		t.Fatalf("%d entries kept; bound is %d", n, 2*finishedGeneration)
	}
}

func TestConfirmFinished(t *testing.T) {
	f := finishedPayment{channel: "sandbox", amount: 100}
	for _, c := range []struct {
		name, channel string
		amount        int64
		want          error
	}{
		{"same", "sandbox", 100, nil},
		{"amount not given", "sandbox", 0, nil},
		{"other channel", "wxpay", 100, store.ErrNotFound},
		{"other amount", "sandbox", 99, errCallbackMismatch},
	} {
		if err := confirmFinished(f, "pay_1", c.channel, c.amount); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
