//! OAuth scopes: what a token lets its bearer do. Reading (lists, gets,
//! previews, discovery) and writing (create, update, delete, acknowledge,
//! channels, silences) are the two a user consents to.

use std::fmt;

use shared_models::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    AlertsRead,
    AlertsWrite,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::AlertsRead, Scope::AlertsWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlertsRead => "alerts:read",
            Self::AlertsWrite => "alerts:write",
        }
    }

    /// What the consent page says the scope allows.
    pub fn description(self) -> &'static str {
        match self {
            Self::AlertsRead => "See your alert rules, alerts, channels, silences and metrics",
            Self::AlertsWrite => {
                "Create, change and delete alert rules, notification channels and silences, and acknowledge alerts"
            }
        }
    }

    /// The scope a call of `tool` needs: `alerts:write` for the tools that
    /// change something, `alerts:read` for the rest.
    pub fn to_call(tool: &str, write_tools: &std::collections::HashSet<String>) -> Self {
        if write_tools.contains(tool) {
            Self::AlertsWrite
        } else {
            Self::AlertsRead
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::AlertsRead => 1,
            Self::AlertsWrite => 2,
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// A set of scopes, written as OAuth writes them: space-separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Self::ALL_BITS
    }

    const ALL_BITS: Scopes = Scopes(3);

    pub fn empty() -> Self {
        Self(0)
    }

    /// Parses a space-separated list; `field` names it in the error. An
    /// unknown scope is an error, not ignored: a client asking for what we
    /// do not grant should learn so.
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let mut scopes = Self::empty();
        for word in raw.split(' ').filter(|w| !w.is_empty()) {
            let scope = Scope::parse(word).ok_or_else(|| {
                FieldError::new(
                    field,
                    format!("unknown scope {word:?}; the scopes are alerts:read and alerts:write"),
                )
            })?;
            scopes.0 |= scope.bit();
        }
        Ok(scopes)
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every scope of `other` is in this set.
    pub fn covers(self, other: Scopes) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |s| self.contains(s.to_owned()))
    }
}

impl From<Scope> for Scopes {
    fn from(scope: Scope) -> Self {
        Self(scope.bit())
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in self.iter() {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print_as_oauth_writes_them() {
        let both = Scopes::parse("alerts:write  alerts:read", "scope").unwrap();
        assert_eq!(both, Scopes::all());
        assert_eq!(both.to_string(), "alerts:read alerts:write");
        let read = Scopes::parse("alerts:read", "scope").unwrap();
        assert!(read.contains(Scope::AlertsRead) && !read.contains(Scope::AlertsWrite));
        assert!(both.covers(read) && !read.covers(both));
        assert!(Scopes::parse("", "scope").unwrap().is_empty());
        let err = Scopes::parse("alerts:read admin", "scope").unwrap_err();
        assert!(err.to_string().contains("scope") && err.to_string().contains("admin"));
    }
}
