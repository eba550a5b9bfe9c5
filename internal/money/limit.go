package money

// MaxAmount is the largest amount of one payment, refund or statement row, in minor units (1e11 =
// 1,000,000,000.00 in a 2-decimal currency: a sum of 92 million maximal amounts still fits int64,
// so no balance, batch, report or per-day total can overflow).
const MaxAmount int64 = 100_000_000_000
