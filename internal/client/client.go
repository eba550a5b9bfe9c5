// Package client is a small merchant-side client of paygw's API: it signs requests as API.md
// says and decodes answers and errors. The load generator, the demo and the end-to-end tests
// use it; it doubles as a reference for merchants writing their own.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/sign"
)

// Client calls paygw as one merchant.
type Client struct {
	BaseURL    string
	MerchantID string
	Secret     string
	HTTP       *http.Client
	Now        func() time.Time
}

// New returns a client with a pooled transport.
func New(baseURL, merchantID, secret string) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 512, 512
	return &Client{BaseURL: baseURL, MerchantID: merchantID, Secret: secret,
		HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}, Now: time.Now}
}

// APIError is an error answer.
type APIError struct {
	Status int
	Body   api.ErrorDetail
}

func (e *APIError) Error() string {
	return fmt.Sprintf("paygw %d %s: %s (request %s)", e.Status, e.Body.Code, e.Body.Message, e.Body.RequestID)
}

// Nonce returns a random nonce.
func Nonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Raw sends a signed request and returns the status and body without interpreting them.
func (c *Client) Raw(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := c.Request(ctx, method, path, body)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Request builds a signed request.
func (c *Client) Request(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts := c.Now().Unix()
	nonce := Nonce()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Paygw-Merchant", c.MerchantID)
	req.Header.Set("Paygw-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("Paygw-Nonce", nonce)
	req.Header.Set("Paygw-Signature", sign.Request(c.Secret, sign.Canonical(method, req.URL.RequestURI(), ts, nonce, body)))
	return req, nil
}

// Do sends a signed JSON request and decodes a 2xx answer into out; other answers are *APIError.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return 0, err
		}
	}
	status, b, err := c.Raw(ctx, method, path, body)
	if err != nil {
		return 0, err
	}
	if status >= 300 {
		var eb api.ErrorBody
		_ = json.Unmarshal(b, &eb)
		return status, &APIError{Status: status, Body: eb.Error}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return status, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return status, nil
}

// CreatePayment creates a payment; body fields as API.md.
func (c *Client) CreatePayment(ctx context.Context, req map[string]any) (api.Payment, int, error) {
	var p api.Payment
	st, err := c.Do(ctx, http.MethodPost, "/v1/payments", req, &p)
	return p, st, err
}

// GetPayment queries a payment.
func (c *Client) GetPayment(ctx context.Context, id string) (api.Payment, error) {
	var p api.Payment
	_, err := c.Do(ctx, http.MethodGet, "/v1/payments/"+id, nil, &p)
	return p, err
}

// Refund refunds a payment.
func (c *Client) Refund(ctx context.Context, paymentID, outRefundNo string, amount int64) (api.Refund, int, error) {
	var r api.Refund
	st, err := c.Do(ctx, http.MethodPost, "/v1/payments/"+paymentID+"/refunds",
		map[string]any{"out_refund_no": outRefundNo, "amount": amount, "reason": "customer request"}, &r)
	return r, st, err
}

// SignAgreement signs a withhold/quick_pay agreement.
func (c *Client) SignAgreement(ctx context.Context, outNo, method, name, account, phone string) (api.Agreement, error) {
	var a api.Agreement
	_, err := c.Do(ctx, http.MethodPost, "/v1/agreements", map[string]any{"out_agreement_no": outNo, "pay_method": method,
		"payer": map[string]string{"name": name, "account_no": account, "phone": phone}}, &a)
	return a, err
}
