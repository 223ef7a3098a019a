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
mod tests {
    use super::*;
    use crate::oauth::clients::error::ErrorCode;

    fn refused(request: Value) -> RegistrationError {
        parse_registration(request.clone()).expect_err(&request.to_string())
    }

    fn minimal() -> Value {
        json!({ "redirect_uris": ["http://127.0.0.1:33418/callback"] })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut request = minimal();
        request[field] = value;
        request
    }

    #[test]
    fn a_minimal_request_gets_the_defaults() {
        let reg = parse_registration(minimal()).unwrap();
        assert_eq!(reg.client_name, DEFAULT_CLIENT_NAME);
        assert_eq!(reg.redirect_uris.len(), 1);
        assert!(reg.redirect_uris[0].is_loopback());
        assert_eq!(reg.grant_types, [GrantType::AuthorizationCode]);
        assert_eq!(reg.response_types, [ResponseType::Code]);
        assert_eq!(
            reg.token_endpoint_auth_method,
            TokenEndpointAuthMethod::None
        );
        assert_eq!(reg.scope, None);
        assert_eq!(reg.client_uri, None);
    }

    /// What Claude Code and the MCP Inspector send, give or take.
    #[test]
    fn a_typical_mcp_client_registers() {
        let reg = parse_registration(json!({
            "client_name": "Claude Code (monitors)",
            "redirect_uris": ["http://localhost:6274/callback", "http://localhost:6274/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "alerts:read  alerts:write alerts:read",
            "client_uri": "https://claude.ai",
            "logo_uri": "https://claude.ai/logo.png",
            "software_id": "claude-code",
            "software_version": "2.1.0",
            "contacts": ["dev@example.com"],
            "tos_uri": "https://example.com/tos",
            "jwks": { "keys": [] },
            "application_type": "native"
        }))
        .unwrap();
        assert_eq!(reg.client_name, "Claude Code (monitors)");
        assert_eq!(reg.redirect_uris.len(), 1, "duplicates are dropped");
        assert_eq!(
            reg.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(reg.scope.as_deref(), Some("alerts:read alerts:write"));
        assert_eq!(reg.software_id.as_deref(), Some("claude-code"));

        let response = registration_response("cli_01JABC", 1_767_225_600, &reg);
        assert_eq!(
            response,
            json!({
                "client_id": "cli_01JABC",
                "client_id_issued_at": 1_767_225_600,
                "client_name": "Claude Code (monitors)",
                "redirect_uris": ["http://localhost:6274/callback"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "scope": "alerts:read alerts:write",
                "client_uri": "https://claude.ai",
                "logo_uri": "https://claude.ai/logo.png",
                "software_id": "claude-code",
                "software_version": "2.1.0",
            })
        );
        assert!(response.get("client_secret").is_none());
    }

    #[test]
    fn the_response_leaves_out_what_was_not_given() {
        let reg = parse_registration(minimal()).unwrap();
        let response = registration_response("cli_1", 7, &reg);
        let keys: Vec<&str> = response
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys.len(),
            7,
            "client_id, issued_at, name, redirect_uris, grant and response types, auth method: {keys:?}"
        );
        assert!(response.get("client_secret_expires_at").is_none());
    }

    #[test]
    fn redirect_uris_are_required_and_bounded() {
        for (request, reason) in [
            (json!({}), "required"),
            (json!({ "redirect_uris": null }), "required"),
            (json!({ "redirect_uris": [] }), "required"),
            (json!({ "redirect_uris": "https://a.example/cb" }), "array"),
            (
                json!({ "redirect_uris": vec!["https://a.example/cb"; 11] }),
                "at most 10",
            ),
        ] {
            let error = refused(request);
            assert_eq!(error.code(), ErrorCode::InvalidRedirectUri);
            assert_eq!(error.field(), "redirect_uris");
            assert!(error.reason().contains(reason), "{error}");
        }
        let error = refused(json!({ "redirect_uris": ["https://a.example/cb", 7] }));
        assert_eq!(error.field(), "redirect_uris[1]");
        let error = refused(json!({
            "redirect_uris": ["https://a.example/cb", "http://evil.example/cb"]
        }));
        assert_eq!(error.field(), "redirect_uris[1]");
        assert_eq!(
            error.to_json()["error"],
            "invalid_redirect_uri",
            "{}",
            error.to_json()
        );
        let description = error.to_json()["error_description"].to_string();
        assert!(
            description.starts_with("\"redirect_uris[1]: plain http"),
            "{description}"
        );
        assert!(
            !description.contains("evil"),
            "the value is not echoed: {description}"
        );
    }

    #[test]
    fn client_name_is_bounded_and_printable() {
        assert_eq!(
            parse_registration(with("client_name", json!("  Élodie's agent  ")))
                .unwrap()
                .client_name,
            "Élodie's agent"
        );
        assert_eq!(
            parse_registration(with("client_name", json!("   ")))
                .unwrap()
                .client_name,
            DEFAULT_CLIENT_NAME
        );
        assert_eq!(
            parse_registration(with("client_name", json!("é".repeat(100))))
                .unwrap()
                .client_name
                .chars()
                .count(),
            100
        );
        for (name, reason) in [
            (json!("x".repeat(101)), "at most 100"),
            (json!("Claude\nApprove all"), "control"),
            (json!("Tab\there"), "control"),
            (json!("bell\u{7}"), "control"),
            (json!("gpt\u{202e}edualc"), "invisible"),
            (json!("zero\u{200b}width"), "invisible"),
            (json!(42), "must be a string"),
            (json!(["a"]), "must be a string"),
        ] {
            let error = refused(with("client_name", name));
            assert_eq!(error.code(), ErrorCode::InvalidClientMetadata);
            assert_eq!(error.field(), "client_name");
            assert!(error.reason().contains(reason), "{error}");
        }
    }

    #[test]
    fn only_the_authorization_code_flow_is_offered() {
        for (grants, reason) in [
            (json!(["client_credentials"]), "only authorization_code"),
            (
                json!([
                    "authorization_code",
                    "urn:ietf:params:oauth:grant-type:device_code"
                ]),
                "only",
            ),
            (json!(["implicit"]), "OAuth 2.1 removed"),
            (
                json!(["authorization_code", "password"]),
                "OAuth 2.1 removed",
            ),
            (json!(["refresh_token"]), "must include authorization_code"),
            (json!([]), "must include authorization_code"),
            (json!("authorization_code"), "array of strings"),
        ] {
            let error = refused(with("grant_types", grants));
            assert_eq!(error.field(), "grant_types");
            assert!(error.reason().contains(reason), "{error}");
        }
        for (types, reason) in [
            (json!(["token"]), "only code"),
            (json!(["code", "id_token"]), "only code"),
            (json!([]), "must include code"),
        ] {
            let error = refused(with("response_types", types));
            assert_eq!(error.field(), "response_types");
            assert!(error.reason().contains(reason), "{error}");
        }
    }

    #[test]
    fn confidential_clients_are_refused_clearly() {
        for method in [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "",
        ] {
            let error = refused(with("token_endpoint_auth_method", json!(method)));
            assert_eq!(error.code(), ErrorCode::InvalidClientMetadata);
            assert_eq!(error.field(), "token_endpoint_auth_method");
            assert!(error.reason().contains("only \"none\""), "{error}");
            assert!(error.reason().contains("PKCE"), "{error}");
        }
        let error = refused(with("token_endpoint_auth_method", json!(["none"])));
        assert!(error.reason().contains("must be a string"), "{error}");
    }

    #[test]
    fn scopes_are_known_ones() {
        assert_eq!(
            parse_registration(with("scope", json!("alerts:write")))
                .unwrap()
                .scope
                .as_deref(),
            Some("alerts:write")
        );
        assert_eq!(
            parse_registration(with("scope", json!(" "))).unwrap().scope,
            None
        );
        for scope in [
            json!("alerts:read admin"),
            json!("openid"),
            json!("ALERTS:READ"),
        ] {
            let error = refused(with("scope", scope));
            assert_eq!(error.field(), "scope");
            assert!(
                error.reason().contains("alerts:read alerts:write"),
                "{error}"
            );
        }
        assert!(
            refused(with("scope", json!(["alerts:read"])))
                .reason()
                .contains("string")
        );
    }

    #[test]
    fn client_and_logo_uris_are_https() {
        for field in ["client_uri", "logo_uri"] {
            for (value, reason) in [
                (json!("http://example.com/"), "https"),
                (json!("javascript:alert(1)"), "https"),
                (json!("HTTPS://example.com/"), "https"),
                (json!("example.com"), "absolute URL"),
                (json!("https://user:pw@example.com/"), "user name"),
                (json!("https://example.com/a b"), "space"),
                (
                    json!(format!("https://example.com/{}", "a".repeat(2000))),
                    "at most",
                ),
                (json!(1), "string"),
            ] {
                let error = refused(with(field, value));
                assert_eq!(error.field(), field);
                assert!(error.reason().contains(reason), "{error}");
            }
        }
        let error = refused(with("logo_uri", json!("nope")));
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn software_fields_are_short_strings() {
        let error = refused(with("software_id", json!("x".repeat(101))));
        assert_eq!(error.field(), "software_id");
        let error = refused(with("software_version", json!(2)));
        assert_eq!(error.field(), "software_version");
        let error = refused(with("software_version", json!("1.0\r\n")));
        assert!(error.reason().contains("control"), "{error}");
    }

    #[test]
    fn the_request_must_be_an_object() {
        for body in [json!([]), json!("x"), json!(null)] {
            let error = refused(body);
            assert_eq!(error.field(), "request");
            assert_eq!(error.code(), ErrorCode::InvalidClientMetadata);
        }
    }
}
