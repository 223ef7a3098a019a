//! Dynamic Client Registration (RFC 7591): the request's metadata parsed
//! into what this server registers, and the response that confirms it.
//!
//! MCP clients are public clients: they authenticate with PKCE, not a
//! secret, so `token_endpoint_auth_method` is `none` and no secret is
//! issued. Fields this server does not know are ignored (RFC 7591 §2).

use serde_json::{Map, Value, json};

use super::{error::RegistrationError, redirect::RedirectUri};

pub const DEFAULT_CLIENT_NAME: &str = "Unnamed client";
pub const MAX_CLIENT_NAME_CHARS: usize = 100;
pub const MAX_REDIRECT_URIS: usize = 10;
/// For `software_id` and `software_version`.
pub const MAX_SOFTWARE_CHARS: usize = 100;
/// For `client_uri` and `logo_uri`.
pub const MAX_URI_CHARS: usize = 2000;
/// The scopes a client may ask for.
pub const KNOWN_SCOPES: [&str; 2] = ["alerts:read", "alerts:write"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseType {
    Code,
}

impl ResponseType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
        }
    }
}

/// How a client authenticates at the token endpoint: only `none` (a public
/// client, bound by PKCE) exists here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenEndpointAuthMethod {
    None,
}

impl TokenEndpointAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
        }
    }
}

/// A registration request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    /// At most [`MAX_CLIENT_NAME_CHARS`], without control characters;
    /// [`DEFAULT_CLIENT_NAME`] when none was given.
    pub client_name: String,
    /// 1 to [`MAX_REDIRECT_URIS`], without duplicates, in the order given.
    pub redirect_uris: Vec<RedirectUri>,
    /// Always holds `authorization_code`; `[authorization_code]` by default.
    pub grant_types: Vec<GrantType>,
    /// `[code]`.
    pub response_types: Vec<ResponseType>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Known scopes, single-space separated, without duplicates.
    pub scope: Option<String>,
    /// https URLs.
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub software_id: Option<String>,
    pub software_version: Option<String>,
}

/// Parses an RFC 7591 registration request body.
pub fn parse_registration(json: Value) -> Result<ClientRegistration, RegistrationError> {
    let Value::Object(fields) = json else {
        return Err(RegistrationError::metadata(
            "request",
            "the registration request must be a JSON object",
        ));
    };
    let grant_types = grant_types(&fields)?;
    let response_types = response_types(&fields)?;
    Ok(ClientRegistration {
        client_name: client_name(&fields)?.unwrap_or_else(|| DEFAULT_CLIENT_NAME.to_owned()),
        redirect_uris: redirect_uris(&fields)?,
        grant_types,
        response_types,
        token_endpoint_auth_method: token_endpoint_auth_method(&fields)?,
        scope: scope(&fields)?,
        client_uri: https_url(&fields, "client_uri")?,
        logo_uri: https_url(&fields, "logo_uri")?,
        software_id: short_string(&fields, "software_id")?,
        software_version: short_string(&fields, "software_version")?,
    })
}

/// The RFC 7591 §3.2.1 response: the client's metadata as registered, with
/// its id and when it was issued (seconds since the epoch). A public client
/// gets no `client_secret`.
pub fn registration_response(client_id: &str, issued_at: i64, reg: &ClientRegistration) -> Value {
    let mut body = json!({
        "client_id": client_id,
        "client_id_issued_at": issued_at,
        "client_name": reg.client_name,
        "redirect_uris": reg.redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
        "grant_types": reg.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "response_types": reg.response_types.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "token_endpoint_auth_method": reg.token_endpoint_auth_method.as_str(),
    });
    let optional = [
        ("scope", &reg.scope),
        ("client_uri", &reg.client_uri),
        ("logo_uri", &reg.logo_uri),
        ("software_id", &reg.software_id),
        ("software_version", &reg.software_version),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            body[name] = Value::String(value.clone());
        }
    }
    body
}

/// A field that is absent or `null` is not given.
fn given<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).filter(|v| !v.is_null())
}

fn string<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, RegistrationError> {
    match given(fields, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RegistrationError::metadata(name, "must be a string")),
    }
}

fn strings<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<&'a str>>, RegistrationError> {
    let not_strings = || RegistrationError::metadata(name, "must be an array of strings");
    match given(fields, name) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or_else(not_strings))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(not_strings()),
    }
}

/// Characters that would let a name lie on the consent screen: controls
/// (newlines included) and the invisible ones that reorder or hide text.
fn deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// A display string: trimmed; `None` when blank.
fn text(
    fields: &Map<String, Value>,
    name: &str,
    max_chars: usize,
) -> Result<Option<String>, RegistrationError> {
    let Some(value) = string(fields, name)? else {
        return Ok(None);
    };
    if value.chars().any(deceptive) {
        return Err(RegistrationError::metadata(
            name,
            "must not contain control or invisible formatting characters",
        ));
    }
    let value = value.trim();
    if value.chars().count() > max_chars {
        return Err(RegistrationError::metadata(
            name,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// `client_name`, if one was given. Shared with client ID metadata
/// documents, where no name means showing the URL's host instead.
pub(crate) fn client_name(
    fields: &Map<String, Value>,
) -> Result<Option<String>, RegistrationError> {
    text(fields, "client_name", MAX_CLIENT_NAME_CHARS)
}

fn short_string(
    fields: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, RegistrationError> {
    text(fields, name, MAX_SOFTWARE_CHARS)
}

/// `redirect_uris`: required, 1 to [`MAX_REDIRECT_URIS`]. Shared with
/// client ID metadata documents.
pub(crate) fn redirect_uris(
    fields: &Map<String, Value>,
) -> Result<Vec<RedirectUri>, RegistrationError> {
    let field = "redirect_uris";
    let invalid = |reason: &str| RegistrationError::redirect(reason).at(field);
    let raws = match given(fields, field) {
        None => return Err(invalid("at least one redirect URI is required")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid("must be an array of strings")),
    };
    if raws.is_empty() {
        return Err(invalid("at least one redirect URI is required"));
    }
    if raws.len() > MAX_REDIRECT_URIS {
        return Err(invalid(&format!(
            "at most {MAX_REDIRECT_URIS} redirect URIs can be registered"
        )));
    }
    let mut uris: Vec<RedirectUri> = Vec::with_capacity(raws.len());
    for (i, raw) in raws.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let raw = raw
            .as_str()
            .ok_or_else(|| RegistrationError::redirect("must be a string").at(&at))?;
        let uri = RedirectUri::parse(raw).map_err(|e| e.at(&at))?;
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }
    Ok(uris)
}

fn grant_types(fields: &Map<String, Value>) -> Result<Vec<GrantType>, RegistrationError> {
    let field = "grant_types";
    let Some(names) = strings(fields, field)? else {
        return Ok(vec![GrantType::AuthorizationCode]);
    };
    let mut grants = Vec::new();
    for name in names {
        let grant = match name {
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            "implicit" | "password" => {
                return Err(RegistrationError::metadata(
                    field,
                    format!(
                        "{name} is not supported: OAuth 2.1 removed it; use authorization_code with PKCE"
                    ),
                ));
            }
            _ => {
                return Err(RegistrationError::metadata(
                    field,
                    "only authorization_code and refresh_token are supported",
                ));
            }
        };
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    if !grants.contains(&GrantType::AuthorizationCode) {
        return Err(RegistrationError::metadata(
            field,
            "must include authorization_code, the only way this server issues tokens",
        ));
    }
    Ok(grants)
}

fn response_types(fields: &Map<String, Value>) -> Result<Vec<ResponseType>, RegistrationError> {
    let field = "response_types";
    let Some(names) = strings(fields, field)? else {
        return Ok(vec![ResponseType::Code]);
    };
    if names.is_empty() {
        return Err(RegistrationError::metadata(field, "must include code"));
    }
    if names.iter().any(|name| *name != "code") {
        return Err(RegistrationError::metadata(
            field,
            "only code is supported (the authorization code flow)",
        ));
    }
    Ok(vec![ResponseType::Code])
}

/// Absent means `none` here, not RFC 7591's `client_secret_basic`: a
/// server may replace a default, and the response says what it chose.
pub(crate) fn token_endpoint_auth_method(
    fields: &Map<String, Value>,
) -> Result<TokenEndpointAuthMethod, RegistrationError> {
    match string(fields, "token_endpoint_auth_method")? {
        None | Some("none") => Ok(TokenEndpointAuthMethod::None),
        Some(_) => Err(RegistrationError::metadata(
            "token_endpoint_auth_method",
            "only \"none\" is supported: clients here are public clients, which prove \
             themselves with PKCE rather than a client secret or key",
        )),
    }
}

fn scope(fields: &Map<String, Value>) -> Result<Option<String>, RegistrationError> {
    let field = "scope";
    let Some(value) = string(fields, field)? else {
        return Ok(None);
    };
    let mut scopes: Vec<&str> = Vec::new();
    for token in value.split_ascii_whitespace() {
        if !KNOWN_SCOPES.contains(&token) {
            return Err(RegistrationError::metadata(
                field,
                format!("unknown scope; the scopes are {}", KNOWN_SCOPES.join(" ")),
            ));
        }
        if !scopes.contains(&token) {
            scopes.push(token);
        }
    }
    Ok((!scopes.is_empty()).then(|| scopes.join(" ")))
}

fn https_url(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, RegistrationError> {
    let Some(value) = string(fields, name)? else {
        return Ok(None);
    };
    if value.chars().count() > MAX_URI_CHARS {
        return Err(RegistrationError::metadata(
            name,
            format!("must be at most {MAX_URI_CHARS} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(RegistrationError::metadata(
            name,
            "contains a space or control character",
        ));
    }
    let url = url::Url::parse(value)
        .map_err(|e| RegistrationError::metadata(name, "is not an absolute URL").with_source(e))?;
    if url.scheme() != "https" || !value.starts_with("https://") {
        return Err(RegistrationError::metadata(name, "must be an https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RegistrationError::metadata(
            name,
            "must not contain a user name or password",
        ));
    }
    Ok(Some(value.to_owned()))
}

#[cfg(test)]
mod tests;
