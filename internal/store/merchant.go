package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

type merchantRow struct {
	ID                  string         `db:"id"`
	Name                string         `db:"name"`
	Status              string         `db:"status"`
	FeeRateBps          int64          `db:"fee_rate_bps"`
	FeeFixed            int64          `db:"fee_fixed"`
	FeeMin              sql.NullInt64  `db:"fee_min"`
	FeeMax              sql.NullInt64  `db:"fee_max"`
	BankName            string         `db:"bank_name"`
	BankAccountName     string         `db:"bank_account_name"`
	BankAccountEnc      string         `db:"bank_account_enc"`
	BankAccountMasked   string         `db:"bank_account_masked"`
	NotifyURL           string         `db:"notify_url"`
	SecretEnc           string         `db:"secret_enc"`
	PrevSecretEnc       sql.NullString `db:"prev_secret_enc"`
	PrevSecretExpiresAt sql.NullTime   `db:"prev_secret_expires_at"`
	CreatedAt           time.Time      `db:"created_at"`
	UpdatedAt           time.Time      `db:"updated_at"`
}

const merchantCols = `id, name, status, fee_rate_bps, fee_fixed, fee_min, fee_max, bank_name, bank_account_name,
	bank_account_enc, bank_account_masked, notify_url, secret_enc, prev_secret_enc, prev_secret_expires_at,
	created_at, updated_at`

func nullInt(p *int64) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *p, Valid: true}
}

func intPtr(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}

func (r merchantRow) domain(k *Keyring) (paygw.Merchant, error) {
	acct, err := k.Open(r.BankAccountEnc)
	if err != nil {
		return paygw.Merchant{}, fmt.Errorf("merchant %s bank account: %w", r.ID, err)
	}
	return paygw.Merchant{
		ID: r.ID, Name: r.Name, Status: r.Status,
		FeePlan:     paygw.FeePlan{RateBps: r.FeeRateBps, Fixed: r.FeeFixed, Min: intPtr(r.FeeMin), Max: intPtr(r.FeeMax)},
		BankAccount: paygw.BankAccount{Name: r.BankAccountName, Bank: r.BankName, AccountNo: acct},
		NotifyURL:   r.NotifyURL, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}, nil
}

// CreateMerchant inserts a merchant with its API secret, both sealed at rest.
func (s *Store) CreateMerchant(ctx context.Context, m paygw.Merchant, secret string) error {
	return s.Transact(ctx, func(tx *Tx) error { return tx.CreateMerchant(ctx, m, secret) })
}

// GetMerchant returns a merchant (with its bank account decrypted) or ErrNotFound.
func (s *Store) GetMerchant(ctx context.Context, id string) (paygw.Merchant, error) {
	var r merchantRow
	if err := get(ctx, s.db, s.dialect, &r, `SELECT `+merchantCols+` FROM merchants WHERE id = ?`, id); err != nil {
		return paygw.Merchant{}, fmt.Errorf("get merchant %s: %w", id, err)
	}
	return r.domain(s.keys)
}

// ListMerchants returns every merchant by creation order.
func (s *Store) ListMerchants(ctx context.Context) ([]paygw.Merchant, error) {
	var rows []merchantRow
	if err := sel(ctx, s.db, s.dialect, &rows, `SELECT `+merchantCols+` FROM merchants ORDER BY created_at, id`); err != nil {
		return nil, fmt.Errorf("list merchants: %w", err)
	}
	out := make([]paygw.Merchant, 0, len(rows))
	for _, r := range rows {
		m, err := r.domain(s.keys)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ErrMerchantSuspended is MerchantSecrets' answer for a suspended merchant.
var ErrMerchantSuspended = errors.New("store: merchant suspended")

// MerchantSecrets returns the secrets that verify a merchant's signatures at now: the current
// one and, during a rotation's grace period, the previous one. A suspended merchant is
// ErrMerchantSuspended, an unknown one ErrNotFound.
func (s *Store) MerchantSecrets(ctx context.Context, id string, now time.Time) ([]string, error) {
	var r struct {
		Status    string         `db:"status"`
		SecretEnc string         `db:"secret_enc"`
		PrevEnc   sql.NullString `db:"prev_secret_enc"`
		PrevUntil sql.NullTime   `db:"prev_secret_expires_at"`
	}
	err := get(ctx, s.db, s.dialect, &r, `SELECT status, secret_enc, prev_secret_enc, prev_secret_expires_at FROM merchants WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("merchant secrets %s: %w", id, err)
	}
	if r.Status == "suspended" {
		return nil, fmt.Errorf("merchant %s: %w", id, ErrMerchantSuspended)
	}
	if r.Status != "active" {
		return nil, fmt.Errorf("merchant %s is %s: %w", id, r.Status, ErrNotFound)
	}
	cur, err := s.keys.Open(r.SecretEnc)
	if err != nil {
		return nil, err
	}
	out := []string{cur}
	if r.PrevEnc.Valid && r.PrevUntil.Valid && now.Before(r.PrevUntil.Time) {
		prev, err := s.keys.Open(r.PrevEnc.String)
		if err != nil {
			return nil, err
		}
		out = append(out, prev)
	}
	return out, nil
}

// RotateSecret makes newSecret current and keeps the old one valid until now+grace.
func (s *Store) RotateSecret(ctx context.Context, id, newSecret string, grace time.Duration, now time.Time) error {
	return s.Transact(ctx, func(tx *Tx) error { return tx.RotateSecret(ctx, id, newSecret, grace, now) })
}

// RotateSecret is Store.RotateSecret in the transaction (with its audit row, say).
func (t *Tx) RotateSecret(ctx context.Context, id, newSecret string, grace time.Duration, now time.Time) error {
	enc, err := t.keys.Seal(newSecret)
	if err != nil {
		return err
	}
	n, err := exec(ctx, t.tx, t.dialect, `UPDATE merchants SET prev_secret_enc = secret_enc, prev_secret_expires_at = ?,
		secret_enc = ?, updated_at = ? WHERE id = ?`, Now(now.Add(grace)), enc, Now(now), id)
	if err != nil {
		return fmt.Errorf("rotate secret %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("rotate secret %s: %w", id, ErrNotFound)
	}
	return nil
}

// GetMerchant reads a merchant (bank account decrypted) inside the transaction, or ErrNotFound.
func (t *Tx) GetMerchant(ctx context.Context, id string) (paygw.Merchant, error) {
	var r merchantRow
	if err := get(ctx, t.tx, t.dialect, &r, `SELECT `+merchantCols+` FROM merchants WHERE id = ?`, id); err != nil {
		return paygw.Merchant{}, fmt.Errorf("get merchant %s: %w", id, err)
	}
	return r.domain(t.keys)
}

// UpdateMerchant writes m's name, status, fee plan, bank account (sealed) and notification URL
// in the transaction; the API secret is not touched.
func (t *Tx) UpdateMerchant(ctx context.Context, m paygw.Merchant, now time.Time) error {
	acctEnc := ""
	if m.BankAccount.AccountNo != "" {
		var err error
		if acctEnc, err = t.keys.Seal(m.BankAccount.AccountNo); err != nil {
			return err
		}
	}
	n, err := exec(ctx, t.tx, t.dialect, `UPDATE merchants SET name = ?, status = ?, fee_rate_bps = ?, fee_fixed = ?, fee_min = ?,
		fee_max = ?, bank_name = ?, bank_account_name = ?, bank_account_enc = ?, bank_account_masked = ?, notify_url = ?,
		updated_at = ? WHERE id = ?`,
		m.Name, m.Status, m.FeePlan.RateBps, m.FeePlan.Fixed, nullInt(m.FeePlan.Min), nullInt(m.FeePlan.Max),
		m.BankAccount.Bank, m.BankAccount.Name, acctEnc, m.BankAccount.Masked(), m.NotifyURL, Now(now), m.ID)
	if err != nil {
		return fmt.Errorf("update merchant %s: %w", m.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("update merchant %s: %w", m.ID, ErrNotFound)
	}
	return nil
}

// MerchantNamed returns the id of a merchant called name other than except, or "" when there
// is none.
func (t *Tx) MerchantNamed(ctx context.Context, name, except string) (string, error) {
	var ids []string
	if err := sel(ctx, t.tx, t.dialect, &ids, `SELECT id FROM merchants WHERE name = ? AND id <> ? ORDER BY id LIMIT 1`, name, except); err != nil {
		return "", fmt.Errorf("merchant named %q: %w", name, err)
	}
	if len(ids) == 0 {
		return "", nil
	}
	return ids[0], nil
}

// CreateMerchant inserts a merchant with its API secret, both sealed at rest, in the transaction.
func (t *Tx) CreateMerchant(ctx context.Context, m paygw.Merchant, secret string) error {
	secEnc, err := t.keys.Seal(secret)
	if err != nil {
		return err
	}
	acctEnc := ""
	if m.BankAccount.AccountNo != "" {
		if acctEnc, err = t.keys.Seal(m.BankAccount.AccountNo); err != nil {
			return err
		}
	}
	_, err = exec(ctx, t.tx, t.dialect, `INSERT INTO merchants (`+merchantCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)`,
		m.ID, m.Name, "active", m.FeePlan.RateBps, m.FeePlan.Fixed, nullInt(m.FeePlan.Min), nullInt(m.FeePlan.Max),
		m.BankAccount.Bank, m.BankAccount.Name, acctEnc, m.BankAccount.Masked(), m.NotifyURL, secEnc,
		Now(m.CreatedAt), Now(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert merchant: %w", err)
	}
	return nil
}

// MerchantAudit is one recorded change to a merchant. Values are as shown to operators: account
// numbers masked, secrets never recorded.
type MerchantAudit struct {
	ID         int64     `db:"id"`
	MerchantID string    `db:"merchant_id"`
	At         time.Time `db:"at"`
	Actor      string    `db:"actor"`
	Action     string    `db:"action"` // create | update | suspend | resume | rotate_secret
	Field      string    `db:"field"`
	Old        string    `db:"old_value"`
	New        string    `db:"new_value"`
	Reason     string    `db:"reason"`
}

// AddMerchantAudit records changes in the transaction.
func (t *Tx) AddMerchantAudit(ctx context.Context, as []MerchantAudit) error {
	for _, a := range as {
		if _, err := exec(ctx, t.tx, t.dialect, `INSERT INTO merchant_audit (merchant_id, at, actor, action, field, old_value, new_value, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.MerchantID, Now(a.At), a.Actor, a.Action, a.Field, a.Old, a.New, a.Reason); err != nil {
			return fmt.Errorf("audit merchant %s: %w", a.MerchantID, err)
		}
	}
	return nil
}

// MerchantAuditOf returns a merchant's recorded changes, oldest first.
func (s *Store) MerchantAuditOf(ctx context.Context, id string) ([]MerchantAudit, error) {
	out := []MerchantAudit{}
	if err := sel(ctx, s.db, s.dialect, &out, `SELECT id, merchant_id, at, actor, action, field, old_value, new_value, reason
		FROM merchant_audit WHERE merchant_id = ? ORDER BY id`, id); err != nil {
		return nil, fmt.Errorf("audit of merchant %s: %w", id, err)
	}
	for i := range out {
		out[i].At = out[i].At.UTC()
	}
	return out, nil
}
