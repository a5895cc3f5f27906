use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::company_memberships;
use crate::db::{DbConn, dispatch};
use crate::domain::{CompanyId, UserId};
use crate::error::AppResult;

/// The companies a user is a member of.
pub async fn company_ids_of(conn: &mut DbConn, user_id: UserId) -> AppResult<Vec<CompanyId>> {
    let ids = dispatch!(conn, |c| {
        company_memberships::table
            .filter(company_memberships::user_id.eq(user_id))
            .select(company_memberships::company_id)
            .order(company_memberships::company_id.asc())
            .load(c)
            .await
    })?;
    Ok(ids)
}
