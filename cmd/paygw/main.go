// Command paygw is the payment gateway and clearing/settlement batch processor.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/paygw/paygw/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
