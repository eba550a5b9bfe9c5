package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestAgreementSeenThroughWhenMerchantDisconnects: the merchant's connection goes away while the
// channel is signing. The agreement is recorded, so the gateway sees the channel call through
// and the agreement ends active (the channel bound the account) without any sweep (before: it
// stayed pending or ended terminated while the channel had it active).
func TestAgreementSeenThroughWhenMerchantDisconnects(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		var arrived <-chan struct{}
		var release func()
		e := gwtest.Start(t, s, gwtest.Options{ChannelURL: func(_, u string) string {
			var p string
			p, arrived, release = holdingProxy(t, u, sandbox.PathSignAgreement)
			return p
		}})
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := e.Client.SignAgreement(cctx, "AG-DISC", "withhold", "Zhang San", "6222021234560123", "13800000000")
			done <- err
		}()
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the sign request never reached the channel")
		}
		cancel() // the merchant disconnects
		if err := <-done; err == nil {
			t.Fatal("the cancelled request succeeded")
		}
		time.Sleep(100 * time.Millisecond) // the server notices the closed connection
		release()
		gwtest.Eventually(t, 5*time.Second, "the agreement to become active", func() bool {
			a, err := s.GetAgreementByOutNo(ctx, e.Merchant.ID, "AG-DISC")
			return err == nil && a.Status == paygw.AgreementActive && a.ChannelNo != ""
		})
		a, _ := s.GetAgreementByOutNo(ctx, e.Merchant.ID, "AG-DISC")
		if a.NextQueryAt != nil {
			t.Errorf("active agreement still scheduled for a query at %v", a.NextQueryAt)
		}
		if p, _, err := e.Client.CreatePayment(ctx, withholdReq("PDISC", 100, a.ID)); err != nil || p.Status != "succeeded" {
			t.Fatalf("withhold after the disconnect: %v %+v", err, p)
		}
	})
}
