//! Typed identifiers. Each wraps a UUIDv7, so ids sort by creation time and
//! one kind of id cannot be passed where another is expected.

use std::{borrow::Cow, fmt, str::FromStr};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use sea_orm::DeriveValueType;
use serde::{Deserialize, Deserializer, Serialize, de};
use uuid::Uuid;

use crate::FieldError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        /// Stored as its hyphenated lowercase text, the form ids have always
        /// had in the database; a row holding anything else fails to read.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, DeriveValueType,
        )]
        #[serde(transparent)]
        #[sea_orm(value_type = "String")]
        pub struct $name(Uuid);

        /// From a string, refused in the words of [`Self::parse_field`], so a
        /// tool argument that is no id says which kind it must be.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(IdVisitor {
                    refusal: concat!("must be ", $what, " id (a UUID)"),
                })
                .map(Self)
            }
        }

        /// A string, as clients see it: the same schema as a `String` field.
        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                String::schema_name()
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                String::json_schema(generator)
            }
        }

        impl $name {
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// Parses a client-supplied id; `field` names the argument in the error.
            pub fn parse_field(raw: &str, field: &str) -> Result<Self, FieldError> {
                raw.parse()
                    .map_err(|_| FieldError::new(field, concat!("must be ", $what, " id (a UUID)")))
            }
        }

        /// Ids are generated, never auto-incremented: as for a `String` key.
        impl sea_orm::TryFromU64 for $name {
            fn try_from_u64(_: u64) -> Result<Self, sea_orm::DbErr> {
                Err(sea_orm::DbErr::ConvertFromU64(stringify!($name)))
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }
    };
}

/// A UUID in a string; anything else is refused with `refusal`.
struct IdVisitor {
    refusal: &'static str,
}

impl de::Visitor<'_> for IdVisitor {
    type Value = Uuid;

    // serde's own words for a `String`, so a wrong type reads as before.
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Uuid, E> {
        Uuid::parse_str(v).map_err(|_| E::custom(self.refusal))
    }
}

id_type!(
    /// The owner of tenant data: every tenant-owned row carries one.
    UserId, "a user"
);
id_type!(RuleId, "a rule");
id_type!(AlertId, "an alert");
id_type!(TokenId, "a token");
id_type!(ChannelId, "a notification channel");
id_type!(NotificationId, "a notification");
id_type!(SilenceId, "a silence");
id_type!(
    /// An OAuth grant: one user's connection of one client.
    GrantId, "a connection"
);

#[cfg(test)]
mod tests {
    use sea_orm::{Value, sea_query::ValueType};

    use super::*;

    #[test]
    fn ids_are_stored_as_their_text() {
        let id = RuleId::generate();
        let stored = Value::from(id);
        assert_eq!(stored, Value::from(id.to_string()));
        assert_eq!(<RuleId as ValueType>::try_from(stored).unwrap(), id);
        assert!(<RuleId as ValueType>::try_from(Value::from("not-an-id")).is_err());
    }
}
