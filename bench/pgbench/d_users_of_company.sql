-- d: the first 50 members of company 14 by name.
SELECT u.id, u.name, u.email, u.role
  FROM users u JOIN company_memberships m ON m.user_id = u.id
 WHERE m.company_id = 14
 ORDER BY lower(u.name), u.id LIMIT 50;
