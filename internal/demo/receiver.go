package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/paygw/paygw/internal/sign"
)

// receiver is a merchant's notification endpoint, as a merchant would write one: it checks the
// signature with the merchant's secret, deduplicates by event id and counts events by type.
// It refuses the first attempt of about one event in refuseOneIn (HTTP 503) so that the demo
// shows paygw retrying.
type receiver struct {
	srv         *http.Server
	url         string
	refuseOneIn uint32

	mu        sync.Mutex
	secrets   map[string]string         // path key -> merchant secret
	merchants map[string]string         // path key -> merchant id
	seen      map[string]bool           // event ids received
	refused   map[string]bool           // event ids whose first attempt was refused
	byType    map[string]int            // unique events by type
	objects   map[string]map[string]int // event type -> object id -> times (unique events)
	attempts  int
	dups      int
	bad       int // bad signature, stale timestamp or wrong merchant
}

func newReceiver(refuseOneIn uint32) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r := &receiver{
		url: "http://" + ln.Addr().String(), refuseOneIn: refuseOneIn,
		secrets: map[string]string{}, merchants: map[string]string{}, seen: map[string]bool{},
		refused: map[string]bool{}, byType: map[string]int{}, objects: map[string]map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notify/{key}", r.handle)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// endpoint is the notify_url for the merchant registered under key.
func (r *receiver) endpoint(key string) string { return r.url + "/notify/" + key }

// register sets the merchant whose notifications arrive under key.
func (r *receiver) register(key, merchantID, secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[key], r.merchants[key] = secret, merchantID
}

func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

type event struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		ID         string `json:"id"`
		MerchantID string `json:"merchant_id"`
		PaymentID  string `json:"payment_id"`
	} `json:"data"`
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	key := req.PathValue("key")
	ts, _ := strconv.ParseInt(req.Header.Get("Paygw-Timestamp"), 10, 64)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	secret, ok := r.secrets[key]
	fresh := time.Since(time.Unix(ts, 0)).Abs() < 5*time.Minute
	if !ok || !fresh || !sign.VerifyNotification([]string{secret}, ts, body, req.Header.Get("Paygw-Signature")) {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.ID != req.Header.Get("Paygw-Event-Id") {
		r.bad++
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	if ev.Data.MerchantID != "" && ev.Data.MerchantID != r.merchants[key] {
		r.bad++
		http.Error(w, "another merchant's event", http.StatusBadRequest)
		return
	}
	if r.seen[ev.ID] {
		r.dups++
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.refuseOneIn > 0 && !r.refused[ev.ID] && hash(ev.ID)%r.refuseOneIn == 0 {
		r.refused[ev.ID] = true
		http.Error(w, "busy, try later", http.StatusServiceUnavailable)
		return
	}
	r.seen[ev.ID] = true
	r.byType[ev.Type]++
	if r.objects[ev.Type] == nil {
		r.objects[ev.Type] = map[string]int{}
	}
	r.objects[ev.Type][ev.Data.ID]++
	w.WriteHeader(http.StatusNoContent)
}

func hash(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// receiverStats is a snapshot of what the receiver got.
type receiverStats struct {
	ByType   map[string]int
	Unique   int
	Attempts int
	Refused  int
	Dups     int
	Bad      int
	// PerObject counts unique events per object id and event type.
	PerObject map[string]map[string]int
}

func (r *receiver) stats() receiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := receiverStats{ByType: map[string]int{}, Unique: len(r.seen), Attempts: r.attempts, Refused: len(r.refused),
		Dups: r.dups, Bad: r.bad, PerObject: map[string]map[string]int{}}
	for k, v := range r.byType {
		s.ByType[k] = v
	}
	for typ, m := range r.objects {
		s.PerObject[typ] = map[string]int{}
		for id, n := range m {
			s.PerObject[typ][id] = n
		}
	}
	return s
}
