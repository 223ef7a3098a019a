//! sea-orm entities. Every tenant-owned entity implements [`TenantScoped`],
//! and the services reach tenant data only through its helpers, so that a
//! query without an owner filter cannot be written by accident.

pub mod alert;
pub mod alert_rule;
pub mod api_token;
pub mod notification;
pub mod notification_channel;
pub mod oauth_client;
pub mod oauth_code;
pub mod oauth_grant;
pub mod oauth_refresh_token;
pub mod oauth_signing_key;
pub mod point;
pub mod rule_state;
pub mod rule_status;
pub mod shard_lease;
pub mod silence;
pub mod user;
pub mod web_session;
pub mod worker;

use sea_orm::{ColumnTrait, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany};

use crate::ids::UserId;

pub trait TenantScoped: EntityTrait {
    fn owner_column() -> Self::Column;

    /// Rows of this entity that belong to `owner`.
    fn find_owned(owner: UserId) -> Select<Self> {
        Self::find().filter(Self::owner_column().eq(owner.to_string()))
    }

    /// One row by primary key, only if it belongs to `owner`: another
    /// tenant's row is indistinguishable from a missing one.
    fn find_owned_by_id<I>(owner: UserId, id: I) -> Select<Self>
    where
        <Self::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<I>,
    {
        Self::find_by_id(id).filter(Self::owner_column().eq(owner.to_string()))
    }

    fn update_owned(owner: UserId) -> UpdateMany<Self> {
        Self::update_many().filter(Self::owner_column().eq(owner.to_string()))
    }

    fn delete_owned(owner: UserId) -> DeleteMany<Self> {
        Self::delete_many().filter(Self::owner_column().eq(owner.to_string()))
    }
}

impl TenantScoped for alert_rule::Entity {
    fn owner_column() -> Self::Column {
        alert_rule::Column::OwnerId
    }
}

impl TenantScoped for alert::Entity {
    fn owner_column() -> Self::Column {
        alert::Column::OwnerId
    }
}

impl TenantScoped for api_token::Entity {
    fn owner_column() -> Self::Column {
        api_token::Column::UserId
    }
}

impl TenantScoped for rule_state::Entity {
    fn owner_column() -> Self::Column {
        rule_state::Column::OwnerId
    }
}

impl TenantScoped for rule_status::Entity {
    fn owner_column() -> Self::Column {
        rule_status::Column::OwnerId
    }
}

impl TenantScoped for point::Entity {
    fn owner_column() -> Self::Column {
        point::Column::OwnerId
    }
}

impl TenantScoped for notification::Entity {
    fn owner_column() -> Self::Column {
        notification::Column::OwnerId
    }
}

impl TenantScoped for notification_channel::Entity {
    fn owner_column() -> Self::Column {
        notification_channel::Column::OwnerId
    }
}

impl TenantScoped for silence::Entity {
    fn owner_column() -> Self::Column {
        silence::Column::OwnerId
    }
}

impl TenantScoped for oauth_grant::Entity {
    fn owner_column() -> Self::Column {
        oauth_grant::Column::UserId
    }
}
