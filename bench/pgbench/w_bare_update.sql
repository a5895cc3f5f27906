-- w, floor: the bare UPDATE of billing_rate_cents (autocommit), no audit, no version.
\set id random(1, 500)
\set v random(1000, 1000000)
UPDATE companies SET billing_rate_cents = :v WHERE id = :id;
