use sea_orm::entity::prelude::*;

/// One numeric field value of the built-in metrics store.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "points")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub owner_id: String,
    /// The database (InfluxDB 1.x) or bucket (2.x) written to.
    pub db: String,
    pub measurement: String,
    pub field: String,
    /// Canonical `key=value,...` of the tags, sorted by key.
    pub series_key: String,
    #[sea_orm(column_type = "Text")]
    pub tags: String,
    /// Milliseconds since the Unix epoch. A data timestamp as InfluxDB
    /// writes carry it, left a bare `i64` rather than a
    /// [`crate::time::Timestamp`]: the built-in store is rebuilt in issue 16.
    pub time: i64,
    pub value: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
