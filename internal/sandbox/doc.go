// Package sandbox is a simulated third-party payment channel — a Server that runs as its own
// process (`paygw sandbox`) with its own in-memory state — and Channel, the adapter paygw uses
// to talk to it (it implements channel.Channel).
//
// # Protocol
//
// JSON over HTTP. Every API request is a POST with a JSON body, signed with the shared secret:
//
//	Sbx-Timestamp: <unix seconds>     within ±5 minutes of the sandbox's wall clock
//	Sbx-Signature: v1=<lowercase hex HMAC-SHA256(secret, canonical)>
//	canonical = METHOD + "\n" + REQUEST_URI + "\n" + TIMESTAMP + "\n" + hex(SHA256(body))
//
// Answers: 200 with the object, or an error status with {"code":"…","message":"…"}:
// 400 invalid_request, 401 bad_signature, 402 declined / agreement_invalid (nothing was
// executed), 404 not_found, 409 already_paid / conflict, 422 refund_exceeds, 500 internal.
// Amounts are integers in minor units; times are RFC 3339 UTC.
//
//	POST /api/v1/pay                 {out_trade_no, amount, currency, pay_method, subject,
//	                                  notify_url, return_url, expire_time, agreement_no} -> trade
//	POST /api/v1/pay/query           {out_trade_no}  -> trade (status not_found if unknown)
//	POST /api/v1/pay/close           {out_trade_no}  -> trade; 409 already_paid if paid
//	POST /api/v1/refund              {out_trade_no, trade_no, out_refund_no, amount, currency,
//	                                  reason, notify_url} -> refund (processing)
//	POST /api/v1/refund/query        {out_refund_no} -> refund (status not_found if unknown)
//	POST /api/v1/agreement/sign      {out_agreement_no, pay_method, payer_name, account_no, phone}
//	                                  -> agreement {agreement_no, status active, account_masked, …}
//	POST /api/v1/agreement/terminate {agreement_no}  -> agreement (status terminated)
//	POST /api/v1/agreement/query     {out_agreement_no} -> agreement (status not_found if unknown)
//	POST /admin/inject               Injection       -> Injection (statement discrepancies)
//	GET  /cashier/{trade_no}         payer's HTML page; its form POSTs to the same URL and pays
//	GET  /statements/YYYY-MM-DD.csv  the business date's statement (unsigned; 404 for a future date)
//
// Trades: {out_trade_no, trade_no, amount, currency, pay_method, subject, status, pay_url, fee,
// refunded_amount, created_at, paid_at, reason}, status processing | succeeded | failed | closed
// | not_found. Pay is idempotent on out_trade_no (the same id answers the existing trade, or 409
// conflict if amount, currency or method differ; a declined trade answers its decline again).
// wallet_qr and online_banking answer processing with pay_url {base}/cashier/{trade_no};
// quick_pay and withhold need an active agreement_no and answer succeeded or 402 synchronously.
// A processing trade past expire_time is closed. Closing an id the sandbox never saw records it
// as closed, so that a pay request still in flight cannot be paid later.
//
// Refunds are idempotent on out_refund_no, never exceed the paid amount in total, and are
// asynchronous: they answer processing and succeed after Options.RefundDelay, followed by a
// callback. The fee on a payment is round_half_up(amount × FeeRateBps ÷ 10000); a refund
// returns round_half_up(payment_fee × refund ÷ amount), and the refund completing a full refund
// returns whatever fee is left.
//
// # Callbacks
//
// When a payment succeeds (cashier, auto-pay, quick_pay, withhold) or a refund succeeds, the
// sandbox POSTs to the request's notify_url (or Options.GatewayURL):
//
//	{"notify_id":"N…","notify_time":"…","kind":"payment","trade":{…}}
//	{"notify_id":"N…","notify_time":"…","kind":"refund","refund":{…}}
//
// signed with the same headers, where canonical uses the method "CALLBACK" and an empty URI
// ("CALLBACK\n\nTIMESTAMP\nhex(SHA256(body))"), so a request signature is never a valid callback
// signature. Only HTTP 200 with the body "success" acknowledges a callback; otherwise it is
// retried after Options.CallbackBackoff (1s, 2s, 5s, 15s, 30s, 1m, … 1h) up to
// Options.CallbackMaxAttempts. notify_id is the same on every retry and duplicate.
//
// # Faults
//
// Latency, FailureRate, TimeoutRate, DuplicateCallbacks, DropCallbacks and CallbackDelay inject
// faults; with a Seed every decision is repeatable (drawn from a PCG source seeded by Seed and the
// object's id). Statement discrepancies come from StatementDropRate / StatementAmountSkewRate or
// from POST /admin/inject.
package sandbox
