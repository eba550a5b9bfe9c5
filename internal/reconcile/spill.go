package reconcile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/paygw/paygw/internal/money"
)

// spill holds a run's items on disk between matching and storing, so that neither a million
// matched items nor the report's rows are ever held in memory. The encoding is private and
// lives only as long as the run.
type spill struct {
	f   *os.File
	w   *bufio.Writer
	buf []byte
	n   int64
}

func newSpill(dir string) (*spill, error) {
	f, err := os.CreateTemp(dir, "paygw-recon-*.items")
	if err != nil {
		return nil, fmt.Errorf("spill file: %w", err)
	}
	return &spill{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (s *spill) close() {
	name := s.f.Name()
	s.f.Close()
	os.Remove(name)
}

func (s *spill) put(it *Item) error {
	b := s.buf[:0]
	str := func(v string) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	num := func(v int64) { b = binary.AppendVarint(b, v) }
	for _, v := range []string{string(it.Class), string(it.Kind), it.PaymentID, it.RefundID, it.MerchantID, it.ChannelTradeNo,
		it.ChannelRefundNo, string(it.Currency), it.InternalStatus, it.ChannelStatus, it.Note} {
		str(v)
	}
	var at int64 = -1 << 63
	if !it.TradeTime.IsZero() {
		at = it.TradeTime.UnixMicro()
	}
	for _, v := range []int64{it.InternalAmount, it.ChannelAmount, it.InternalFee, it.ChannelFee, at, int64(it.Line),
		int64(b2i(it.Reconcile) | b2i(it.ResolvesPending)<<1)} {
		num(v)
	}
	s.buf = b
	var hdr [binary.MaxVarintLen64]byte
	if _, err := s.w.Write(hdr[:binary.PutUvarint(hdr[:], uint64(len(b)))]); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	s.n++
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// each reads the items back in the order they were put.
func (s *spill) each(fn func(*Item) error) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	r := bufio.NewReaderSize(s.f, 1<<20)
	var buf []byte
	var it Item
	for {
		n, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		if err := decodeItem(buf, &it); err != nil {
			return err
		}
		if err := fn(&it); err != nil {
			return err
		}
	}
}

func decodeItem(b []byte, it *Item) error {
	bad := errors.New("spill: corrupt item")
	str := func() string {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			b = nil
			return ""
		}
		v := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return v
	}
	num := func() int64 {
		v, k := binary.Varint(b)
		if k <= 0 {
			b = nil
			return 0
		}
		b = b[k:]
		return v
	}
	it.Class, it.Kind = Class(str()), Kind(str())
	it.PaymentID, it.RefundID, it.MerchantID, it.ChannelTradeNo, it.ChannelRefundNo = str(), str(), str(), str(), str()
	it.Currency = money.Currency(str())
	it.InternalStatus, it.ChannelStatus, it.Note = str(), str(), str()
	it.InternalAmount, it.ChannelAmount, it.InternalFee, it.ChannelFee = num(), num(), num(), num()
	at := num()
	it.TradeTime = time.Time{}
	if at != -1<<63 {
		it.TradeTime = time.UnixMicro(at).UTC()
	}
	it.Line = int(num())
	flags := num()
	if b == nil {
		return bad
	}
	it.Reconcile, it.ResolvesPending = flags&1 != 0, flags&2 != 0
	return nil
}
