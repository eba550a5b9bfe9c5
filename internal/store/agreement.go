package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

type agreementRow struct {
	ID             string       `db:"id"`
	MerchantID     string       `db:"merchant_id"`
	OutAgreementNo string       `db:"out_agreement_no"`
	PayMethod      string       `db:"pay_method"`
	Status         string       `db:"status"`
	Channel        string       `db:"channel"`
	ChannelNo      string       `db:"channel_no"`
	PayerName      string       `db:"payer_name"`
	AccountMasked  string       `db:"account_masked"`
	PhoneMasked    string       `db:"phone_masked"`
	AccountToken   string       `db:"account_token"`
	CreatedAt      time.Time    `db:"created_at"`
	UpdatedAt      time.Time    `db:"updated_at"`
	NextQueryAt    sql.NullTime `db:"next_query_at"`
	QueryCount     int          `db:"query_count"`
}

const agreementCols = `id, merchant_id, out_agreement_no, pay_method, status, channel, channel_no, payer_name,
	account_masked, phone_masked, account_token, created_at, updated_at, next_query_at, query_count`

func (r agreementRow) domain() paygw.Agreement {
	return paygw.Agreement{
		ID: r.ID, MerchantID: r.MerchantID, OutAgreementNo: r.OutAgreementNo, PayMethod: paygw.PayMethod(r.PayMethod),
		Status: paygw.AgreementStatus(r.Status), Channel: r.Channel, ChannelNo: r.ChannelNo, PayerName: r.PayerName,
		AccountMasked: r.AccountMasked, PhoneMasked: r.PhoneMasked, AccountToken: r.AccountToken,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), NextQueryAt: timePtr(r.NextQueryAt), QueryCount: r.QueryCount,
	}
}

// AgreementOutNoKey names the unique key on (merchant_id, out_agreement_no).
var AgreementOutNoKey = []string{"agreements_merchant_out_no", "agreements.merchant_id, agreements.out_agreement_no"}

// InsertAgreement records an agreement (account stored masked and as a keyed token only). A
// pending agreement is stored with its first active query (a.NextQueryAt) so the sweeper finds
// it even if the process dies before the channel answers.
func (s *Store) InsertAgreement(ctx context.Context, a paygw.Agreement) error {
	_, err := exec(ctx, s.db, s.dialect, `INSERT INTO agreements (`+agreementCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.MerchantID, a.OutAgreementNo, string(a.PayMethod), string(a.Status), a.Channel, a.ChannelNo, a.PayerName,
		a.AccountMasked, a.PhoneMasked, a.AccountToken, Now(a.CreatedAt), Now(a.CreatedAt), nullTime(a.NextQueryAt), a.QueryCount)
	if err != nil {
		return fmt.Errorf("insert agreement: %w", err)
	}
	return nil
}

// GetMerchantAgreement returns a merchant's own agreement.
func (s *Store) GetMerchantAgreement(ctx context.Context, merchantID, id string) (paygw.Agreement, error) {
	var r agreementRow
	if err := get(ctx, s.db, s.dialect, &r, `SELECT `+agreementCols+` FROM agreements WHERE id = ? AND merchant_id = ?`, id, merchantID); err != nil {
		return paygw.Agreement{}, fmt.Errorf("get agreement: %w", err)
	}
	return r.domain(), nil
}

// GetAgreement returns an agreement by id (callbacks, which carry no merchant).
func (s *Store) GetAgreement(ctx context.Context, id string) (paygw.Agreement, error) {
	var r agreementRow
	if err := get(ctx, s.db, s.dialect, &r, `SELECT `+agreementCols+` FROM agreements WHERE id = ?`, id); err != nil {
		return paygw.Agreement{}, fmt.Errorf("get agreement: %w", err)
	}
	return r.domain(), nil
}

// GetAgreementByOutNo returns a merchant's agreement by out_agreement_no.
func (s *Store) GetAgreementByOutNo(ctx context.Context, merchantID, outNo string) (paygw.Agreement, error) {
	var r agreementRow
	if err := get(ctx, s.db, s.dialect, &r, `SELECT `+agreementCols+` FROM agreements WHERE merchant_id = ? AND out_agreement_no = ?`, merchantID, outNo); err != nil {
		return paygw.Agreement{}, fmt.Errorf("get agreement: %w", err)
	}
	return r.domain(), nil
}

// UpdateAgreementStatus moves an agreement compare-and-set from one status to another; an
// agreement that leaves pending is no longer queried.
func (s *Store) UpdateAgreementStatus(ctx context.Context, id string, from, to paygw.AgreementStatus, channelNo string, now time.Time) (bool, error) {
	n, err := exec(ctx, s.db, s.dialect, `UPDATE agreements SET status = ?, channel_no = CASE WHEN ? <> '' THEN ? ELSE channel_no END,
		next_query_at = CASE WHEN ? = 'pending' THEN next_query_at ELSE NULL END,
		updated_at = ? WHERE id = ? AND status = ?`, string(to), channelNo, channelNo, string(to), Now(now), id, string(from))
	if err != nil {
		return false, fmt.Errorf("update agreement %s: %w", id, err)
	}
	return n == 1, nil
}

// DueAgreements lists pending agreements whose next active query is due.
func (s *Store) DueAgreements(ctx context.Context, now time.Time, limit int) ([]paygw.Agreement, error) {
	var rows []agreementRow
	if err := selectDue(ctx, s, &rows, `SELECT `+agreementCols+` FROM agreements
		WHERE next_query_at IS NOT NULL AND next_query_at <= ? AND status = 'pending' ORDER BY next_query_at LIMIT ?`,
		Now(now), limit); err != nil {
		return nil, fmt.Errorf("due agreements: %w", err)
	}
	out := make([]paygw.Agreement, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// ScheduleAgreementQuery sets the next active query of a pending agreement.
func (s *Store) ScheduleAgreementQuery(ctx context.Context, id string, next *time.Time, count int, now time.Time) error {
	_, err := exec(ctx, s.db, s.dialect, `UPDATE agreements SET next_query_at = ?, query_count = ?, updated_at = ?
		WHERE id = ? AND status = 'pending'`, nullTime(next), count, Now(now), id)
	if err != nil {
		return fmt.Errorf("schedule agreement query %s: %w", id, err)
	}
	return nil
}
