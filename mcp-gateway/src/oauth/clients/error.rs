//! Why client metadata was refused, in the shape RFC 7591 §3.2.2 gives
//! registration errors: an error code and a description naming the field.

use serde_json::{Value, json};

/// The RFC 7591 error codes this server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A redirect URI is missing or not acceptable.
    InvalidRedirectUri,
    /// Any other field is not acceptable.
    InvalidClientMetadata,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
        }
    }
}

/// One refused field. The reason is written for the client's developer and
/// never echoes the value, which an attacker chose and a log may keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct RegistrationError {
    code: ErrorCode,
    field: String,
    reason: String,
    #[source]
    source: Option<url::ParseError>,
}

impl RegistrationError {
    pub(crate) fn metadata(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidClientMetadata,
            field: field.into(),
            reason: reason.into(),
            source: None,
        }
    }

    pub(crate) fn redirect(reason: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidRedirectUri,
            field: "redirect_uri".to_owned(),
            reason: reason.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: url::ParseError) -> Self {
        self.source = Some(source);
        self
    }

    /// The same error, for the field as the request names it
    /// (`redirect_uris[2]` rather than `redirect_uri`).
    pub(crate) fn at(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The request field at fault: `client_name`, `redirect_uris[0]`, ...
    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The RFC 7591 error body, answered with HTTP 400:
    /// `{"error": "invalid_redirect_uri", "error_description": "redirect_uris[0]: ..."}`.
    pub fn to_json(&self) -> Value {
        let description = match &self.source {
            Some(source) => format!("{}: {} ({source})", self.field, self.reason),
            None => format!("{}: {}", self.field, self.reason),
        };
        json!({
            "error": self.code.as_str(),
            "error_description": description,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_as_an_rfc_7591_error() {
        let error = RegistrationError::metadata("client_name", "must be a string");
        assert_eq!(
            error.to_json(),
            json!({
                "error": "invalid_client_metadata",
                "error_description": "client_name: must be a string",
            })
        );
        assert_eq!(error.to_string(), "client_name: must be a string");
    }

    #[test]
    fn keeps_the_parse_error_as_its_source() {
        let error = RegistrationError::redirect("is not an absolute URL")
            .with_source(url::ParseError::RelativeUrlWithoutBase)
            .at("redirect_uris[1]");
        assert_eq!(error.code(), ErrorCode::InvalidRedirectUri);
        assert_eq!(error.field(), "redirect_uris[1]");
        let source = std::error::Error::source(&error).expect("a source");
        assert_eq!(source.to_string(), "relative URL without a base");
        assert_eq!(
            error.to_json()["error_description"],
            "redirect_uris[1]: is not an absolute URL (relative URL without a base)"
        );
    }
}
