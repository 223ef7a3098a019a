//! Typed identifiers. Each wraps a UUIDv7, so ids sort by creation time and
//! one kind of id cannot be passed where another is expected.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::FieldError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

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
