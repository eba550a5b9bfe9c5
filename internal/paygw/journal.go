package paygw

import (
	"errors"
	"fmt"

	"github.com/paygw/paygw/internal/money"
)

// Posting is one line of a journal: a debit when Amount > 0, a credit when Amount < 0.
type Posting struct {
	Account  string
	Currency money.Currency
	Amount   int64
}

// Journal is a balanced set of postings caused by one event. Kind and RefID are its unique key:
// an event posts at most once. The ledger package builds journals from events; the store writes
// them; neither needs the other.
type Journal struct {
	Kind     string
	RefID    string // payment, refund, batch or adjustment id
	Postings []Posting
}

// ErrUnbalanced is returned for a journal whose postings do not sum to zero per currency.
var ErrUnbalanced = errors.New("ledger: unbalanced journal")

// Check verifies the journal balances per currency.
func (j Journal) Check() error {
	if j.Kind == "" || j.RefID == "" {
		return fmt.Errorf("%w: journal needs a kind and a reference", ErrUnbalanced)
	}
	sums := map[money.Currency]int64{}
	for _, p := range j.Postings {
		if p.Account == "" || !p.Currency.Valid() {
			return fmt.Errorf("%w: %s %s: posting without account or currency", ErrUnbalanced, j.Kind, j.RefID)
		}
		s, err := money.Add(sums[p.Currency], p.Amount)
		if err != nil {
			return fmt.Errorf("%s %s: %w", j.Kind, j.RefID, err)
		}
		sums[p.Currency] = s
	}
	for c, s := range sums {
		if s != 0 {
			return fmt.Errorf("%w: %s %s: %s postings sum to %d", ErrUnbalanced, j.Kind, j.RefID, c, s)
		}
	}
	return nil
}
