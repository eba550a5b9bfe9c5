package sandbox

import (
	"context"
	"testing"

	"github.com/paygw/paygw/internal/channel"
)

// TestQueryAgreement: a gateway that lost a sign answer learns the agreement's state by its own
// agreement id: active, terminated, or not_found when the request never arrived.
func TestQueryAgreement(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	var _ channel.AgreementQuerier = e.ch
	if got, err := e.ch.QueryAgreement(ctx, "agr_never"); err != nil || got.Status != channel.StatusNotFound {
		t.Fatalf("unknown agreement: %+v %v", got, err)
	}
	signed, err := e.ch.Sign(ctx, channel.SignRequest{AgreementID: "agr_q1", PayMethod: MethodWithhold, PayerName: "Zhang", AccountNo: "6222021234560123"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.ch.QueryAgreement(ctx, "agr_q1")
	if err != nil || got.Status != channel.StatusSucceeded || got.AgreementNo != signed.AgreementNo {
		t.Fatalf("active agreement: %+v %v (signed %+v)", got, err, signed)
	}
	if err := e.ch.TerminateAgreement(ctx, signed.AgreementNo); err != nil {
		t.Fatal(err)
	}
	if got, err := e.ch.QueryAgreement(ctx, "agr_q1"); err != nil || got.Status != channel.StatusClosed {
		t.Fatalf("terminated agreement: %+v %v", got, err)
	}
}
