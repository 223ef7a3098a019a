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
