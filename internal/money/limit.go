package money

// MaxAmount is the product's hard maximum of one payment, refund or statement row, in minor
// units: 100,000,000,000 (1,000,000,000.00 in a two-decimal currency). It is small enough that no
// sum paygw computes (balances, batches, reports, per-day totals) can overflow an int64.
const MaxAmount int64 = 100_000_000_000
