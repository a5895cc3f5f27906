-- Indexes that serve each list's order exactly (and the filter that comes before it), so a
-- page reads its rows in order from an index instead of scanning and sorting the table: the
-- cost follows the page, not the table. Each matches the ORDER BY in src/db/models/*.rs.

-- users: ORDER BY lower(name), id; the keyset cursor is (lower(name), id) > (…).
CREATE INDEX users_lower_name_id_idx ON users (lower(name), id);

-- companies of an organization: WHERE organization_id = ? AND id > ? ORDER BY id.
CREATE INDEX companies_organization_id_idx ON companies (organization_id, id);
-- Superseded by it (same leading column: it serves the foreign key's lookups as well).
DROP INDEX companies_organization_idx;

-- a company's members: WHERE company_id = ? AND id > ? ORDER BY id.
CREATE INDEX company_memberships_company_id_idx ON company_memberships (company_id, id);

-- a company's teams: WHERE company_id = ? ORDER BY name, id.
CREATE INDEX teams_company_name_id_idx ON teams (company_id, name, id);

-- a company's inbound numbers: WHERE company_id = ? [AND active] ORDER BY active DESC, number, id.
CREATE INDEX inbound_numbers_company_order_idx ON inbound_numbers (company_id, active DESC, number, id);
DROP INDEX inbound_numbers_company_idx;
