-- a: the user asked for, the columns the GraphQL answer shows.
SELECT id, name, email, role, activated_at, discarded_at, last_sign_in_at FROM users WHERE id = 42;
