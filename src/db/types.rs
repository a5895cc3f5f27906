//! How domain types travel to and from SQL: ids as BIGINT, enums as TEXT, on both backends.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{BigInt, Nullable, SingleValue, Text};

use crate::domain::*;

/// Implements diesel's expression, serialization and row traits for a domain type that is
/// stored as `$inner` (`$to_inner` converts) under SQL type `$sql`, with public diesel APIs only
/// (no `diesel::internal`): a value becomes the bound expression of its stored form, so the
/// domain types need not know diesel and any diesel 2.3.x builds.
macro_rules! sql_mapping {
    ($ty:ty, $sql:ty, $inner:ty, |$v:ident| $to_inner:expr) => {
        impl AsExpression<$sql> for $ty {
            type Expression = <$inner as AsExpression<$sql>>::Expression;
            fn as_expression(self) -> Self::Expression {
                let $v = self;
                <$inner as AsExpression<$sql>>::as_expression($to_inner)
            }
        }
        impl AsExpression<Nullable<$sql>> for $ty {
            type Expression = <$inner as AsExpression<Nullable<$sql>>>::Expression;
            fn as_expression(self) -> Self::Expression {
                let $v = self;
                <$inner as AsExpression<Nullable<$sql>>>::as_expression($to_inner)
            }
        }
        impl<'a> AsExpression<$sql> for &'a $ty {
            type Expression = <$inner as AsExpression<$sql>>::Expression;
            fn as_expression(self) -> Self::Expression {
                let $v = *self;
                <$inner as AsExpression<$sql>>::as_expression($to_inner)
            }
        }
        impl<'a> AsExpression<Nullable<$sql>> for &'a $ty {
            type Expression = <$inner as AsExpression<Nullable<$sql>>>::Expression;
            fn as_expression(self) -> Self::Expression {
                let $v = *self;
                <$inner as AsExpression<Nullable<$sql>>>::as_expression($to_inner)
            }
        }
        impl<DB: Backend> ToSql<Nullable<$sql>, DB> for $ty
        where
            Self: ToSql<$sql, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                ToSql::<$sql, DB>::to_sql(self, out)
            }
        }
        impl<DB: Backend, ST: SingleValue> Queryable<ST, DB> for $ty
        where
            Self: FromSql<ST, DB>,
        {
            type Row = Self;
            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }
    };
}

macro_rules! id_sql {
    ($($id:ident),*) => {$(
        sql_mapping!($id, BigInt, i64, |v| v.0);

        impl<DB: Backend> ToSql<BigInt, DB> for $id
        where
            i64: ToSql<BigInt, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <i64 as ToSql<BigInt, DB>>::to_sql(&self.0, out)
            }
        }

        impl<DB: Backend> FromSql<BigInt, DB> for $id
        where
            i64: FromSql<BigInt, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                i64::from_sql(bytes).map($id)
            }
        }
    )*};
}

crate::for_each_id_type!(id_sql);

macro_rules! text_enum_sql {
    ($($ty:ident),*) => {$(
        sql_mapping!($ty, Text, String, |v| v.as_str().to_owned());

        impl<DB: Backend> ToSql<Text, DB> for $ty
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                Ok(text.parse::<$ty>()?)
            }
        }
    )*};
}

text_enum_sql!(
    Role,
    OrganizationStatus,
    CompanyStatus,
    AuditRecordType,
    AuditAction
);
