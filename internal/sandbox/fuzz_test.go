package sandbox

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
)

// FuzzParseCallback feeds arbitrary bodies, correctly signed or not, to the callback parser: it
// must never panic, must refuse anything unsigned, and must only accept well-formed callbacks.
func FuzzParseCallback(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "callbacks", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/callbacks: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
		f.Add(b, false)
	}
	now := time.Date(2026, 11, 22, 2, 5, 0, 0, time.UTC)
	ch, err := NewChannel("sandbox", "http://127.0.0.1:9", testSecret, withNow(func() time.Time { return now }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		h := http.Header{}
		if signed {
			setSignature(h, []byte(testSecret), callbackMethod, "", now, body)
		} else {
			h.Set(HeaderTimestamp, "1795831500")
			h.Set(HeaderSignature, "v1="+string(body))
		}
		cb, err := ch.ParseCallback(h, body)
		if err != nil {
			if !errors.Is(err, channel.ErrBadCallback) {
				t.Fatalf("error %v is not ErrBadCallback", err)
			}
			return
		}
		if !signed {
			t.Fatalf("unsigned callback accepted: %q", body)
		}
		switch cb.Kind {
		case channel.CallbackPayment:
			if cb.Payment.PaymentID == "" || cb.Payment.ChannelTradeNo == "" || cb.Payment.Status == channel.StatusNotFound {
				t.Fatalf("accepted incomplete payment callback %+v", cb)
			}
			if cb.Payment.Status == channel.StatusSucceeded && cb.Payment.PaidAt.IsZero() {
				t.Fatalf("succeeded without paid time: %+v", cb)
			}
		case channel.CallbackRefund:
			if cb.Refund.RefundID == "" || cb.Refund.ChannelRefundNo == "" || cb.Refund.Status == channel.StatusNotFound {
				t.Fatalf("accepted incomplete refund callback %+v", cb)
			}
		default:
			t.Fatalf("accepted kind %q", cb.Kind)
		}
	})
}
