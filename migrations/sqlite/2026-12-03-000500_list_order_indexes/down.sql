CREATE INDEX inbound_numbers_company_idx ON inbound_numbers (company_id);
DROP INDEX inbound_numbers_company_order_idx;
DROP INDEX teams_company_name_id_idx;
DROP INDEX company_memberships_company_id_idx;
CREATE INDEX companies_organization_idx ON companies (organization_id);
DROP INDEX companies_organization_id_idx;
DROP INDEX users_lower_name_id_idx;
