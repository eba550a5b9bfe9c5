package settle

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// PayoutHeader is the header row of a payout file.
var PayoutHeader = []string{"batch_id", "date", "merchant_id", "account_name", "bank", "account_no", "currency", "amount"}

// WritePayoutFile writes the bank transfer file for batches: one line per batch awaiting
// payout (status settled, net > 0; the caller leaves batches on hold out), the batch id as the bank's idempotency key, the merchant's
// full account number and the amount in major units. It carries account numbers, so the file
// is 0600; it is written to a temporary file beside path and renamed into place.
func WritePayoutFile(ctx context.Context, s *store.Store, path string, batches []View) (err error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(PayoutHeader)
	for _, b := range batches {
		if b.Status != StatusSettled {
			continue
		}
		m, err := s.GetMerchant(ctx, b.MerchantID)
		if err != nil {
			return fmt.Errorf("payout file: %w", err)
		}
		if m.BankAccount.AccountNo == "" {
			return fmt.Errorf("payout file: merchant %s has no bank account", b.MerchantID)
		}
		_ = w.Write([]string{b.ID, b.Date, b.MerchantID, m.BankAccount.Name, m.BankAccount.Bank, m.BankAccount.AccountNo,
			b.Currency, money.Format(b.Net, money.Currency(b.Currency))})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("payout file: %w", err)
	}
	return writeFileAtomic(path, buf.Bytes(), 0o600)
}

// writeFileAtomic writes data to a temporary file in path's directory with perm, syncs it and
// renames it over path, so readers see the old file or the whole new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Payout regenerates the payout file of opts.Date for the merchants in scope, from the
// database: the date's batches awaiting payout that are not on hold, and the batches of earlier
// dates whose hold was lifted and that no other date's file carries (they are claimed for this
// date). Batches whose merchant cannot be paid now are put on hold and left out. The file is
// opts.OutDir/payout_D[suffix].csv; nothing else is written.
func Payout(ctx context.Context, s *store.Store, opts Options) (Outcome, error) {
	if err := opts.Validate(); err != nil {
		return Outcome{}, err
	}
	if opts.OutDir == "" {
		return Outcome{}, errors.New("payout: no output directory")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	all, err := s.SettleMerchants(ctx)
	if err != nil {
		return Outcome{}, err
	}
	byID := make(map[string]store.SettleMerchant, len(all))
	found := opts.Merchant == ""
	for _, m := range all {
		byID[m.ID] = m
		found = found || m.ID == opts.Merchant
	}
	if !found {
		return Outcome{}, fmt.Errorf("%w %q", ErrUnknownMerchant, opts.Merchant)
	}
	bs, err := s.SettleBatchesOn(ctx, opts.Date)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Date: opts.Date}
	for _, b := range bs {
		if opts.inScope(b.MerchantID) {
			out.Batches = append(out.Batches, View{SettleBatch: b, MerchantName: byID[b.MerchantID].Name})
		}
	}
	pp := payoutPlan{s: s, date: opts.Date, ms: byID, inScope: opts.inScope, hold: true, claim: true, now: opts.Now(), log: opts.Log}
	if err := pp.run(ctx, out.Batches); err != nil {
		return out, err
	}
	pp.warn()
	out.OnHold, out.Released = pp.held, pp.released
	out.PayoutFile = filepath.Join(opts.OutDir, "payout_"+opts.Date+opts.Suffix()+".csv")
	if err := WritePayoutFile(ctx, s, out.PayoutFile, pp.lines); err != nil {
		return out, err
	}
	return out, nil
}

// Errors of MarkPaid.
var (
	ErrNothingToPay = errors.New("batch has nothing to pay out")
	ErrPaidOther    = errors.New("batch already paid with another bank reference")
)

// MarkPaid records the bank's confirmation of a batch's payout: the batch becomes paid with
// bankRef and its payout journal (merchant payable / platform cash) is posted, in one
// transaction. A batch is paid once: marking it again with the same reference changes nothing
// (changed is false); another reference is ErrPaidOther; a carried batch is ErrNothingToPay; a
// batch on hold is ErrOnHold.
func MarkPaid(ctx context.Context, s *store.Store, batchID, bankRef string, now time.Time) (b paygw.SettleBatch, changed bool, err error) {
	if batchID == "" || bankRef == "" {
		return b, false, errors.New("mark paid: batch id and bank reference are required")
	}
	err = s.Transact(ctx, func(tx *store.Tx) error {
		ok, err := tx.MarkBatchPaid(ctx, batchID, bankRef, now)
		if err != nil {
			return err
		}
		if b, err = tx.GetSettleBatch(ctx, batchID); err != nil {
			return err
		}
		if !ok {
			switch {
			case b.Status == StatusPaid && b.BankRef == bankRef:
				return nil
			case b.Status == StatusPaid:
				return fmt.Errorf("%w: batch %s paid with %q", ErrPaidOther, batchID, b.BankRef)
			case b.Status == StatusSettled:
				return fmt.Errorf("%w: batch %s of merchant %s: its merchant cannot be paid yet (see settle's on_hold list)",
					ErrOnHold, batchID, b.MerchantID)
			default:
				return fmt.Errorf("%w: batch %s is %s with net %s", ErrNothingToPay, batchID, b.Status,
					money.Format(b.Net, money.Currency(b.Currency)))
			}
		}
		j, err := ledger.Payout(b.ID, b.MerchantID, money.Currency(b.Currency), b.Net)
		if err != nil {
			return err
		}
		changed = true
		return tx.PostJournal(ctx, j, now)
	})
	if err != nil {
		return paygw.SettleBatch{}, false, fmt.Errorf("mark paid: %w", err)
	}
	return b, changed, nil
}

// Return is one line of the bank's return file.
type Return struct {
	Line    int
	BatchID string
	BankRef string
	Paid    bool // false: the bank rejected or returned the transfer
	Status  string
}

// ReturnError is a bad line of a return file; it names the file, line and field.
type ReturnError struct {
	File  string
	Line  int
	Field string
	Err   error
}

func (e *ReturnError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Field, e.Err)
}

func (e *ReturnError) Unwrap() error { return e.Err }

// Return file statuses: a transfer the bank made, or one it did not.
var (
	paidStatuses   = map[string]bool{"paid": true, "success": true, "succeeded": true, "ok": true}
	failedStatuses = map[string]bool{"failed": true, "returned": true, "rejected": true}
)

// ParseReturns reads the bank's return file: CSV (UTF-8, optional BOM) with a header naming at
// least batch_id, bank_ref and status, in any order. status is paid|success|succeeded|ok or
// failed|returned|rejected (any case); a paid line needs a bank_ref. A batch listed twice must
// say the same thing both times. name labels errors.
func ParseReturns(r io.Reader, name string) ([]Return, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &ReturnError{File: name, Line: 1, Err: errors.New("empty file: want a header batch_id,bank_ref,status")}
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, need := range []string{"batch_id", "bank_ref", "status"} {
		if _, ok := col[need]; !ok {
			return nil, &ReturnError{File: name, Line: 1, Field: need, Err: errors.New("missing column")}
		}
	}
	var out []Return
	seen := map[string]Return{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		field := func(f string) string {
			if i := col[f]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		ret := Return{Line: line, BatchID: field("batch_id"), BankRef: field("bank_ref"), Status: strings.ToLower(field("status"))}
		switch {
		case ret.BatchID == "":
			return nil, &ReturnError{File: name, Line: line, Field: "batch_id", Err: errors.New("empty")}
		case paidStatuses[ret.Status]:
			ret.Paid = true
			if ret.BankRef == "" {
				return nil, &ReturnError{File: name, Line: line, Field: "bank_ref", Err: errors.New("empty for a paid transfer")}
			}
		case failedStatuses[ret.Status]:
		default:
			return nil, &ReturnError{File: name, Line: line, Field: "status",
				Err: fmt.Errorf("%q: want paid, success, succeeded, ok, failed, returned or rejected", ret.Status)}
		}
		if prev, ok := seen[ret.BatchID]; ok {
			if prev.Paid != ret.Paid || prev.BankRef != ret.BankRef {
				return nil, &ReturnError{File: name, Line: line, Field: "batch_id",
					Err: fmt.Errorf("%s listed on line %d with another outcome", ret.BatchID, prev.Line)}
			}
			continue
		}
		seen[ret.BatchID] = ret
		out = append(out, ret)
	}
	return out, nil
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ReturnError{File: name, Line: pe.Line, Err: pe.Err}
	}
	return fmt.Errorf("%s: %w", name, err)
}
