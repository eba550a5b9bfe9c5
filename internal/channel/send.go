package channel

import (
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// Send does req with client and classifies a transport error the way DESIGN.md §5 asks of
// every adapter: once the request was written the channel may have acted on it, so the outcome
// is unknown (ErrUnknownOutcome, resolved by querying); a request that never left is a definite
// non-execution (ErrDeclined, safe to fail over), unless the caller's context ended. what names
// the call in errors ("wechatpay /v3/pay/…").
func Send(client *http.Client, req *http.Request, what string) (*http.Response, error) {
	var wrote atomic.Bool
	ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	resp, err := client.Do(req.WithContext(ctx))
	if err == nil {
		return resp, nil
	}
	if wrote.Load() {
		return nil, fmt.Errorf("%s: %w: %v", what, ErrUnknownOutcome, err)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: not sent: %w", what, ctx.Err())
	}
	return nil, fmt.Errorf("%s: %w: not sent: %v", what, ErrDeclined, err)
}
