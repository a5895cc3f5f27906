-- Bench data, after `portal-admin migrate` and before `create-admin` / `seed-audit`.
-- psql -v users=10000 (or 100000). Deterministic (no random()): 50 organizations, 500 companies,
-- 1000 teams, :users users ("First Last" names), 3 company memberships and 1 team membership per
-- user, 2 old sessions per user. At users=10000: 30,000 memberships, as in issue 11.
-- Names have one capital each, so ORDER BY lower(name), id equals ORDER BY name, id (PostGraphile
-- orders by the column itself).
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO organizations (id, name, billing_email, status, created_at, updated_at)
SELECT i, 'Organization ' || i, 'billing@org' || i || '.example.com', 'ACTIVE',
       timestamp '2025-01-01' + (i || ' hours')::interval, timestamp '2025-01-01' + (i || ' hours')::interval
FROM generate_series(1, 50) AS i;

INSERT INTO companies (id, organization_id, name, billing_email, billing_rate_cents, billing_plan, timezone, status,
                       created_at, updated_at)
SELECT i, 1 + (i % 50), 'Company ' || i, 'ap@company' || i || '.example.com', 1000 + (i * 37) % 9000,
       (ARRAY['STANDARD','PREMIUM','ENTERPRISE'])[1 + i % 3],
       (ARRAY['UTC','Europe/Berlin','America/New_York','Asia/Tokyo'])[1 + i % 4],
       CASE WHEN i % 50 = 0 THEN 'SUSPENDED' ELSE 'ACTIVE' END,
       timestamp '2025-01-01' + (i || ' hours')::interval, timestamp '2025-02-01' + (i || ' minutes')::interval
FROM generate_series(1, 500) AS i;

INSERT INTO teams (id, company_id, name, created_at, updated_at)
SELECT i, 1 + (i - 1) / 2, CASE WHEN i % 2 = 0 THEN 'Night shift' ELSE 'Day shift' END,
       timestamp '2025-01-02', timestamp '2025-01-02'
FROM generate_series(1, 1000) AS i;

WITH fn AS (SELECT ARRAY['Alice','Bob','Carla','David','Elena','Frank','Grace','Hugo','Irene','Jonas',
                         'Karin','Liam','Maria','Noah','Olga','Pavel','Quinn','Rosa','Sven','Tara'] a),
     ln AS (SELECT ARRAY['Anderson','Brown','Costa','Dubois','Eriksen','Fischer','Garcia','Horvat','Ivanova',
                         'Jensen','Kowalski','Larsen','Meyer','Novak','Olsen','Petrov','Quist','Rossi',
                         'Schmidt','Tanaka','Urban','Vogel','Weber','Xu','Young'] a)
INSERT INTO users (id, name, email, role, password_hash, failed_sign_in_count, last_sign_in_at,
                   invitation_sent_at, activated_at, discarded_at, created_at, updated_at, version)
SELECT i,
       fn.a[1 + i % 20] || ' ' || ln.a[1 + (i / 20) % 25],
       lower(fn.a[1 + i % 20]) || '.' || lower(ln.a[1 + (i / 20) % 25]) || '.' || i || '@example.com',
       CASE WHEN i % 100 = 0 THEN 'ADMIN' WHEN i % 10 = 0 THEN 'SUPERVISOR' ELSE 'CUSTOMER' END,
       NULL, 0,
       CASE WHEN i % 3 <> 0 AND i % 17 <> 0 THEN timestamp '2025-06-01' + (i || ' minutes')::interval END,
       timestamp '2025-01-01' + (i || ' minutes')::interval,
       CASE WHEN i % 17 <> 0 THEN timestamp '2025-01-02' + (i || ' minutes')::interval END,
       CASE WHEN i % 20 = 0 THEN timestamp '2025-09-01' + (i || ' minutes')::interval END,
       timestamp '2025-01-01' + (i || ' minutes')::interval,
       timestamp '2025-03-01' + (i || ' minutes')::interval, 1
FROM generate_series(1, :users) AS i, fn, ln;

-- 3 distinct companies per user (offsets 0/131/262 mod 500 never collide).
INSERT INTO company_memberships (id, user_id, company_id, role, created_at, updated_at)
SELECT (u - 1) * 3 + k + 1, u, 1 + ((u * 7 + k * 131) % 500),
       CASE WHEN u % 10 = 0 AND u % 100 <> 0 AND k = 0 THEN 'SUPERVISOR' ELSE 'CUSTOMER' END,
       timestamp '2025-01-03', timestamp '2025-01-03'
FROM generate_series(1, :users) AS u, generate_series(0, 2) AS k;

-- One team per user, a team of their first company.
INSERT INTO team_memberships (id, user_id, team_id, created_at)
SELECT u, u, 2 * ((u * 7) % 500) + 1 + u % 2, timestamp '2025-01-04'
FROM generate_series(1, :users) AS u;

-- Old sessions (expired or revoked), so the token index is not trivially small.
INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, expires_at, revoked_at)
SELECT i, md5('bench-session-' || i), 1 + i % :users, timestamp '2025-05-01' + (i || ' minutes')::interval,
       timestamp '2025-05-01' + (i || ' minutes')::interval, timestamp '2025-05-01 12:00' + (i || ' minutes')::interval,
       CASE WHEN i % 2 = 0 THEN timestamp '2025-05-01 01:00' + (i || ' minutes')::interval END
FROM generate_series(1, 2 * :users) AS i;

SELECT setval(pg_get_serial_sequence('organizations', 'id'), 50),
       setval(pg_get_serial_sequence('companies', 'id'), 500),
       setval(pg_get_serial_sequence('teams', 'id'), 1000),
       setval(pg_get_serial_sequence('users', 'id'), :users),
       setval(pg_get_serial_sequence('company_memberships', 'id'), 3 * :users),
       setval(pg_get_serial_sequence('team_memberships', 'id'), :users),
       setval(pg_get_serial_sequence('sessions', 'id'), 2 * :users);
COMMIT;
