package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/outcome"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/trace"
)

// HandleCallback verifies and applies a channel's asynchronous notification and answers in the
// channel's protocol. Duplicate and out-of-order callbacks are no-ops (compare-and-set).
func (g *Service) HandleCallback(ctx context.Context, channelName string, header http.Header, body []byte, w http.ResponseWriter) {
	ctx, span := trace.Start(ctx, "callback", trace.Channel.String(channelName))
	defer span.End()
	ch, ok := g.channels.Get(channelName)
	if !ok {
		http.Error(w, "unknown channel", http.StatusNotFound)
		return
	}
	cb, err := ch.ParseCallback(header, body)
	if err != nil {
		g.metrics.callbacks.WithLabelValues(channelName, "rejected").Inc()
		g.logger(ctx).Warn().Str("channel", channelName).Err(err).Msg("callback rejected")
		ch.CallbackAck(w, false)
		return
	}
	joined := false
	err = g.applyCallback(ctx, channelName, cb, &joined)
	switch {
	case errors.Is(err, errCallbackMismatch):
		// Verified, but not what we asked for: believe nothing, change nothing; the channel
		// retries and the query or reconciliation settles the truth.
		g.metrics.callbacks.WithLabelValues(channelName, "rejected").Inc()
		g.logger(ctx).Warn().Str("channel", channelName).Err(err).Msg("callback does not match our record")
		ch.CallbackAck(w, false)
	case errors.Is(err, store.ErrNotFound):
		// Not ours (or not any more): acknowledge so the channel stops; reconciliation will see it.
		g.metrics.callbacks.WithLabelValues(channelName, "unknown").Inc()
		g.logger(ctx).Warn().Str("channel", channelName).Str("kind", string(cb.Kind)).Msg("callback for an unknown object")
		ch.CallbackAck(w, true)
	case err != nil:
		g.metrics.callbacks.WithLabelValues(channelName, "error").Inc()
		g.logger(ctx).Error().Str("channel", channelName).Err(err).Msg("callback not applied; channel will retry")
		ch.CallbackAck(w, false)
	case joined:
		g.metrics.callbacks.WithLabelValues(channelName, "joined").Inc()
		ch.CallbackAck(w, true)
	default:
		g.metrics.callbacks.WithLabelValues(channelName, "ok").Inc()
		ch.CallbackAck(w, true)
	}
}

// errCallbackMismatch is a verified callback whose amount is not the one we recorded.
var errCallbackMismatch = errors.New("callback does not match our record")

// confirmFinished answers a payment callback for a payment recorded final: the same checks as
// against the stored row (another channel's payment is not this channel's to confirm; a
// different amount is believed in nothing), and no change.
func confirmFinished(f finishedPayment, id, channelName string, amount int64) error {
	if f.channel != channelName {
		return store.ErrNotFound
	}
	if amount != 0 && amount != f.amount {
		return fmt.Errorf("%w: payment %s: callback amount %d, ours %d", errCallbackMismatch, id, amount, f.amount)
	}
	return nil
}

func (g *Service) applyCallback(ctx context.Context, channelName string, cb channel.Callback, joined *bool) error {
	switch cb.Kind {
	case channel.CallbackPayment:
		id := cb.Payment.PaymentID
		// Recorded final by this process: nothing to change, nothing to read.
		if f, ok := g.done.get(id); ok {
			return confirmFinished(f, id, channelName, cb.Payment.Amount)
		}
		// A channel may call back while its answer to our pay call is still on the way (the
		// sandbox does at once): when this process is making that call, wait for its outcome
		// rather than race it for the payment's row (both would lock it, one would find nothing
		// to do and the other's version check would miss), then look again.
		if done, ok := g.paying.Load(id); ok {
			select {
			case <-done.(chan struct{}):
			case <-ctx.Done():
				return ctx.Err()
			}
			*joined = true
			if f, ok := g.done.get(id); ok {
				return confirmFinished(f, id, channelName, cb.Payment.Amount)
			}
		}
		p, err := g.store.GetPayment(ctx, id)
		if err != nil {
			return err
		}
		if p.Channel != channelName {
			return store.ErrNotFound
		}
		if cb.Payment.Amount != 0 && cb.Payment.Amount != p.Amount {
			return fmt.Errorf("%w: payment %s: callback amount %d, ours %d", errCallbackMismatch, p.ID, cb.Payment.Amount, p.Amount)
		}
		if p.Status.Final() {
			g.done.add(p)
			return nil // a duplicate or late callback: nothing to change, no write needed
		}
		switch cb.Payment.Status {
		case channel.StatusSucceeded, channel.StatusFailed, channel.StatusClosed:
			// From the row just read, as the paying process does: one statement that shares the
			// outcome batches on PostgreSQL, on the row's version. Another replica whose pay call
			// this callback overtook may move the payment first; the version check sees it and
			// the outcome is then applied from the current row (nothing left to change). Applied
			// from the status alone it was a transaction of several statements that held the
			// payment's row and a balance shard across round trips, which the other replica's
			// batch statement queued behind (BENCHMARKS.md, issue 12, ninth round).
			_, err := g.applyFrom(ctx, p, outcomeOf(cb.Payment))
			return err
		}
		return nil
	case channel.CallbackAgreement:
		a, err := g.store.GetAgreement(ctx, cb.Agreement.AgreementID)
		if err != nil {
			return err
		}
		if a.Channel != channelName {
			return store.ErrNotFound
		}
		return g.applyAgreement(ctx, a, cb.Agreement)
	case channel.CallbackRefund:
		r, err := g.store.GetRefund(ctx, cb.Refund.RefundID)
		if err != nil {
			return err
		}
		if r.Channel != channelName {
			return store.ErrNotFound
		}
		if cb.Refund.Amount != 0 && cb.Refund.Amount != r.Amount {
			return fmt.Errorf("%w: refund %s: callback amount %d, ours %d", errCallbackMismatch, r.ID, cb.Refund.Amount, r.Amount)
		}
		if r.Status != paygw.RefundProcessing {
			return nil
		}
		switch cb.Refund.Status {
		case channel.StatusSucceeded:
			_, _, err = outcome.ApplyRefund(ctx, g.store, r.ID, outcome.Refund{Status: paygw.RefundSucceeded,
				ChannelRefundNo: cb.Refund.ChannelRefundNo, SucceededAt: cb.Refund.SucceededAt}, g.now(), g.cfg.Location())
		case channel.StatusFailed:
			_, _, err = outcome.ApplyRefund(ctx, g.store, r.ID, outcome.Refund{Status: paygw.RefundFailed,
				ChannelRefundNo: cb.Refund.ChannelRefundNo, FailReason: cb.Refund.Reason}, g.now(), g.cfg.Location())
		}
		return err
	}
	return nil
}
