-- +goose Up
-- What the merchant's front end does next for a payment awaiting its payer (API.md next_action):
-- a JSON object {"type":"redirect|qr_code|jsapi", …} as the channel answered it, '' when none.
ALTER TABLE payments ADD COLUMN next_action TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE payments DROP COLUMN next_action;
