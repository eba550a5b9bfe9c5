// Package kinds is the one place that lists the channel kinds paygw is built with: importing it
// registers each kind's factory with package channel. The config imports it, so every command
// and test that loads a configuration knows every kind. Adding a kind is one import here.
package kinds

import (
	"github.com/paygw/paygw/internal/channel"

	_ "github.com/paygw/paygw/internal/channel/alipay"           // kind alipay
	_ "github.com/paygw/paygw/internal/channel/alipay/alipaysim" // sandbox protocol alipay
	_ "github.com/paygw/paygw/internal/channel/wechatpay"        // kind wechatpay
	_ "github.com/paygw/paygw/internal/sandbox"                  // kind sandbox
)

// Statement is the kind of a channel paygw does not call online: its bills are reconciled from
// files (reconcile --file), in the format named by the channel's `format` (default: its name).
const Statement = "statement"

func init() {
	channel.Register(Statement, channel.Factory{
		Configure: func(s *channel.Section) error { return s.Decode(&struct{}{}) },
	})
}
