package alipaysim

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/channel/alipay"
)

// note is one notification to deliver: the same notify_id on every retry.
type note struct {
	id, url string
	form    url.Values
}

// notify signs n and delivers it in the background (nil: nothing to send).
func (s *Server) notify(n *note) {
	if n == nil {
		return
	}
	sig, err := alipay.SignRSA2(s.opts.PrivateKey, []byte(alipay.SignContent(n.form, "sign_type")))
	if err != nil {
		s.opts.Logger.Error().Err(err).Msg("sign notification")
		return
	}
	n.form.Set("sign_type", "RSA2")
	n.form.Set("sign", sig)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.deliver(n)
	}()
}

// deliver posts n until it is answered "success", waiting NotifySchedule (÷ NotifyScale)
// between attempts; an acknowledged note may be sent once more (DuplicateNotifications).
func (s *Server) deliver(n *note) {
	for attempt := 0; attempt <= len(s.opts.NotifySchedule); attempt++ {
		if attempt > 0 {
			d := time.Duration(float64(s.opts.NotifySchedule[attempt-1]) / s.opts.NotifyScale)
			if !s.sleep(d) {
				return
			}
		}
		if s.chance(s.fault().DropNotifications, "drop", n.id, strconv.Itoa(attempt)) {
			continue
		}
		if err := s.post(n); err != nil {
			s.opts.Logger.Debug().Str("notify_id", n.id).Int("attempt", attempt+1).Err(err).Msg("notification not acknowledged")
			continue
		}
		s.mu.Lock()
		s.notified++
		s.mu.Unlock()
		if s.chance(s.fault().DuplicateNotifications, "dup", n.id) {
			_ = s.post(n)
		}
		return
	}
	s.opts.Logger.Warn().Str("notify_id", n.id).Msg("notification given up")
}

func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

type ackError string

func (e ackError) Error() string { return string(e) }

// post sends one attempt: only HTTP 200 with the body exactly "success" acknowledges.
func (s *Server) post(n *note) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.NotifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, strings.NewReader(n.form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK || string(b) != alipay.AckBody {
		return ackError("answered " + strconv.Itoa(resp.StatusCode) + " " + strconv.Quote(string(b)))
	}
	return nil
}
