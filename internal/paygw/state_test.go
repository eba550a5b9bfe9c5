package paygw

import (
	"testing"
	"time"
)

func TestPaymentTransitions(t *testing.T) {
	all := []PaymentStatus{PaymentCreated, PaymentProcessing, PaymentSucceeded, PaymentFailed, PaymentClosed,
		PaymentPartiallyRefunded, PaymentRefunded}
	allowedPairs := map[[2]PaymentStatus]bool{
		{PaymentCreated, PaymentProcessing}: true, {PaymentCreated, PaymentSucceeded}: true,
		{PaymentCreated, PaymentFailed}: true, {PaymentCreated, PaymentClosed}: true,
		{PaymentProcessing, PaymentSucceeded}: true, {PaymentProcessing, PaymentFailed}: true,
		{PaymentProcessing, PaymentClosed}:           true,
		{PaymentSucceeded, PaymentPartiallyRefunded}: true, {PaymentSucceeded, PaymentRefunded}: true,
		{PaymentPartiallyRefunded, PaymentPartiallyRefunded}: true, {PaymentPartiallyRefunded, PaymentRefunded}: true,
	}
	for _, from := range all {
		for _, to := range all {
			want := allowedPairs[[2]PaymentStatus{from, to}]
			if got := from.CanTransition(to); got != want {
				t.Errorf("%s -> %s: got %v want %v", from, to, got, want)
			}
			if err := CheckPaymentTransition(from, to); (err == nil) != want {
				t.Errorf("CheckPaymentTransition(%s, %s) = %v", from, to, err)
			} else if err != nil && ErrorCode(err) != CodeInvalidState {
				t.Errorf("code %s", ErrorCode(err))
			}
		}
	}
}

func TestRefundAndAgreementTransitions(t *testing.T) {
	refunds := []RefundStatus{RefundProcessing, RefundSucceeded, RefundFailed}
	for _, from := range refunds {
		for _, to := range refunds {
			want := from == RefundProcessing && to != RefundProcessing
			if from.CanTransition(to) != want {
				t.Errorf("refund %s -> %s", from, to)
			}
		}
	}
	agr := []AgreementStatus{AgreementPending, AgreementActive, AgreementTerminated}
	ok := map[[2]AgreementStatus]bool{
		{AgreementPending, AgreementActive}: true, {AgreementPending, AgreementTerminated}: true,
		{AgreementActive, AgreementTerminated}: true,
	}
	for _, from := range agr {
		for _, to := range agr {
			if from.CanTransition(to) != ok[[2]AgreementStatus{from, to}] {
				t.Errorf("agreement %s -> %s", from, to)
			}
		}
	}
}

func TestBusinessDateShanghai(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		utc  string
		want string
	}{
		{"2026-11-22T15:59:59Z", "2026-11-22"}, // 23:59:59 Beijing
		{"2026-11-22T16:00:00Z", "2026-11-23"}, // 00:00:00 Beijing next day
		{"2026-11-22T00:00:00Z", "2026-11-22"},
		{"2026-12-31T16:00:01Z", "2027-01-01"},
	}
	for _, tt := range tests {
		ts, _ := time.Parse(time.RFC3339, tt.utc)
		if got := BusinessDate(ts, sh); got != tt.want {
			t.Errorf("BusinessDate(%s) = %s, want %s", tt.utc, got, tt.want)
		}
	}
	start, end, err := DayBounds("2026-11-22", sh)
	if err != nil || start.Format(time.RFC3339) != "2026-11-21T16:00:00Z" || end.Format(time.RFC3339) != "2026-11-22T16:00:00Z" {
		t.Errorf("DayBounds = %s %s %v", start, end, err)
	}
	now, _ := time.Parse(time.RFC3339, "2026-11-22T16:30:00Z") // 00:30 on the 23rd in Shanghai
	if y := Yesterday(now, sh); y != "2026-11-22" {
		t.Errorf("Yesterday = %s", y)
	}
	if ended, _ := DayEnded("2026-11-23", now, sh); ended {
		t.Error("open day reported ended")
	}
	if ended, _ := DayEnded("2026-11-22", now, sh); !ended {
		t.Error("closed day reported open")
	}
	for _, bad := range []string{"2026-13-01", "2026-2-01", "20261122", "", "2026-02-30"} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
}

func TestMask(t *testing.T) {
	if got := MaskAccount("6222021234560123"); got != "6222********0123" {
		t.Error(got)
	}
	if got := MaskPhone("13800000000"); got != "138****0000" {
		t.Error(got)
	}
}
