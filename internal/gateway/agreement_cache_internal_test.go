package gateway

import (
	"strconv"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// The agreement cache keeps only active agreements, per merchant, until agreementTTL, forgets one
// dropped, and starts over past expiringMax entries.
func TestAgreementCache(t *testing.T) {
	var c agreementCache
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	active := paygw.Agreement{ID: "agr_1", MerchantID: "mch_a", Status: paygw.AgreementActive, Channel: "sandbox"}
	c.put(active, now)
	c.put(paygw.Agreement{ID: "agr_2", MerchantID: "mch_a", Status: paygw.AgreementPending}, now)
	c.put(paygw.Agreement{ID: "agr_3", MerchantID: "mch_a", Status: paygw.AgreementTerminated}, now)
	for _, tc := range []struct {
		merchant, id string
		at           time.Time
		want         bool
	}{
		{"mch_a", "agr_1", now, true},
		{"mch_a", "agr_1", now.Add(agreementTTL - time.Nanosecond), true},
		{"mch_a", "agr_1", now.Add(agreementTTL), false},
		{"mch_b", "agr_1", now, false}, // another merchant's key
		{"mch_a", "agr_2", now, false}, // pending: never kept
		{"mch_a", "agr_3", now, false}, // terminated: never kept
	} {
		if a, ok := c.get(tc.merchant, tc.id, tc.at); ok != tc.want || (ok && a != active) {
			t.Errorf("get(%s, %s, +%v) = %+v, %v; want %v", tc.merchant, tc.id, tc.at.Sub(now), a, ok, tc.want)
		}
	}
	c.drop("mch_a", "agr_1")
	if _, ok := c.get("mch_a", "agr_1", now); ok {
		t.Error("a dropped agreement is still kept")
	}
	for i := range expiringMax + 1 {
		a := active
		a.ID = "agr_" + strconv.Itoa(i)
		c.put(a, now)
	}
	if n := len(c.m); n > expiringMax {
		t.Errorf("%d entries kept, bound %d", n, expiringMax)
	}
}
