package sign

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestNotificationVector checks the test vector published for merchants in
// docs/notifications.md, so the documentation cannot drift from the code.
func TestNotificationVector(t *testing.T) {
	f, err := os.Open("../../docs/notifications.md")
	if err != nil {
		t.Fatalf("open docs: %v", err)
	}
	defer f.Close()
	vec := map[string]string{}
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		l := sc.Text()
		switch {
		case strings.Contains(l, "<!-- signature-test-vector -->"):
			in = true
		case in && strings.HasPrefix(l, "```") && len(vec) > 0:
			in = false
		case in:
			if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, "```") {
				vec[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	for _, k := range []string{"secret", "timestamp", "body", "signature"} {
		if vec[k] == "" {
			t.Fatalf("docs/notifications.md: test vector lacks %q (have %v)", k, vec)
		}
	}
	ts, err := strconv.ParseInt(vec["timestamp"], 10, 64)
	if err != nil {
		t.Fatalf("docs/notifications.md: timestamp: %v", err)
	}
	if got := Notification(vec["secret"], ts, []byte(vec["body"])); got != vec["signature"] {
		t.Errorf("Notification(vector) = %s, docs say %s", got, vec["signature"])
	}
	if !VerifyNotification([]string{vec["secret"]}, ts, []byte(vec["body"]), vec["signature"]) {
		t.Error("VerifyNotification rejects the published vector")
	}
}

func TestVerifyNotification(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"payment.succeeded"}`)
	good := Notification("s3cret", 1700000000, body)
	tests := []struct {
		name    string
		secrets []string
		ts      int64
		body    []byte
		header  string
		want    bool
	}{
		{"valid", []string{"s3cret"}, 1700000000, body, good, true},
		{"second secret of a rotation", []string{"old", "s3cret"}, 1700000000, body, good, true},
		{"wrong secret", []string{"other"}, 1700000000, body, good, false},
		{"other timestamp", []string{"s3cret"}, 1700000001, body, good, false},
		{"body changed", []string{"s3cret"}, 1700000000, []byte(`{"id":"evt_2"}`), good, false},
		{"no version prefix", []string{"s3cret"}, 1700000000, body, strings.TrimPrefix(good, "v1="), false},
		{"uppercase hex", []string{"s3cret"}, 1700000000, body, "v1=" + strings.ToUpper(strings.TrimPrefix(good, "v1=")), true},
		{"truncated", []string{"s3cret"}, 1700000000, body, good[:len(good)-2], false},
		{"not hex", []string{"s3cret"}, 1700000000, body, "v1=zz", false},
		{"empty", []string{"s3cret"}, 1700000000, body, "", false},
		{"no secrets", nil, 1700000000, body, good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyNotification(tt.secrets, tt.ts, tt.body, tt.header); got != tt.want {
				t.Errorf("VerifyNotification = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzVerifyNotification(f *testing.F) {
	body := []byte(`{"id":"evt_1"}`)
	f.Add(Notification("k", 1, body))
	f.Add("v1=")
	f.Add("v1=00")
	f.Fuzz(func(t *testing.T, header string) {
		ok := VerifyNotification([]string{"k"}, 1, body, header)
		if ok && !strings.EqualFold(header, Notification("k", 1, body)) {
			t.Fatalf("accepted a header that is not the signature: %q", header)
		}
	})
}
