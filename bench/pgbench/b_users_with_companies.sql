-- b: two round trips, as a DataLoader does it: the page of users by name, then the memberships
-- and companies of those ids ({{b_page_ids}}: the page's ids, filled in by bench.py).
SELECT id, name, email, role FROM users ORDER BY lower(name), id LIMIT 50;
SELECT m.user_id, m.role, c.id, c.name
  FROM company_memberships m JOIN companies c ON c.id = m.company_id
 WHERE m.user_id = ANY('{{{b_page_ids}}}'::bigint[])
 ORDER BY m.user_id, m.company_id;
