//! Redirect URIs as OAuth 2.1 and RFC 8252 (native apps) allow them, and
//! the comparison of a presented URI with a registered one.

use std::fmt;

use url::Url;

use super::error::RegistrationError;

/// Longer than any redirect URI a client needs; a bound on what we store.
pub const MAX_REDIRECT_URI_CHARS: usize = 2000;

/// The only host texts a plain-http redirect URI may name. Written as the
/// client must write them: the any-port comparison is textual, so the host
/// has exactly one spelling (no `LOCALHOST`, `127.1` or `2130706433`).
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

/// Schemes that run or read something where they land instead of handing
/// the response to a client. A private-use scheme needs a dot anyway; these
/// get a clearer message.
const DANGEROUS_SCHEMES: [&str; 5] = ["javascript", "data", "file", "vbscript", "blob"];

/// A redirect URI a client registered:
/// - an absolute URL without a fragment or user name and password;
/// - `https` to any host;
/// - `http` only to a loopback host (`127.0.0.1`, `[::1]`, `localhost`),
///   RFC 8252 §7.3;
/// - or a private-use scheme for a native app, a reverse domain name with
///   a dot such as `com.example.app:/callback` (RFC 8252 §7.1).
///
/// It keeps the text the client registered: comparison is by exact string
/// (OAuth 2.1 §4.1.3), so nothing is normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedirectUri {
    raw: String,
    /// Plain http to a loopback host: any port matches.
    loopback: bool,
}

impl RedirectUri {
    pub fn parse(raw: &str) -> Result<Self, RegistrationError> {
        if raw.chars().count() > MAX_REDIRECT_URI_CHARS {
            return Err(RegistrationError::redirect(format!(
                "is longer than {MAX_REDIRECT_URI_CHARS} characters"
            )));
        }
        // The URL parser would quietly drop tabs and newlines and trim
        // spaces, leaving a URI other than the one compared later.
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(RegistrationError::redirect(
                "contains a space or control character",
            ));
        }
        let url = Url::parse(raw)
            .map_err(|e| RegistrationError::redirect("is not an absolute URL").with_source(e))?;
        if raw.contains('#') {
            return Err(RegistrationError::redirect(
                "must not contain a fragment (#)",
            ));
        }
        let scheme = url.scheme();
        if !raw.starts_with(scheme) {
            return Err(RegistrationError::redirect("the scheme must be lower case"));
        }
        let authority = authority(raw, scheme);
        if !url.username().is_empty()
            || url.password().is_some()
            || authority.is_some_and(|a| a.contains('@'))
        {
            return Err(RegistrationError::redirect(
                "must not contain a user name or password",
            ));
        }
        let loopback = match scheme {
            "https" => {
                if authority.is_none_or(str::is_empty) {
                    return Err(RegistrationError::redirect(
                        "an https redirect URI is written https://host/path",
                    ));
                }
                false
            }
            "http" => {
                let host = split_loopback(raw).map(|(host, _)| host);
                if !host.is_some_and(|h| LOOPBACK_HOSTS.contains(&h)) {
                    return Err(RegistrationError::redirect(
                        "plain http is allowed only to a loopback host, written 127.0.0.1, [::1] \
                         or localhost (RFC 8252); use https",
                    ));
                }
                true
            }
            other if DANGEROUS_SCHEMES.contains(&other) => {
                return Err(RegistrationError::redirect(format!(
                    "{other}: URIs cannot be redirect URIs"
                )));
            }
            other if other.contains('.') => {
                if raw.len() == other.len() + 1 {
                    return Err(RegistrationError::redirect(
                        "names nothing after the scheme",
                    ));
                }
                false
            }
            _ => {
                return Err(RegistrationError::redirect(
                    "a native app's private-use scheme must be a reverse domain name with a dot, \
                     such as com.example.app:/callback (RFC 8252 §7.1)",
                ));
            }
        };
        Ok(Self {
            raw: raw.to_owned(),
            loopback,
        })
    }

    /// Whether `presented` (an authorization request's `redirect_uri`)
    /// names this URI: the exact same string, except that for a loopback
    /// http URI the port may be any port or none (RFC 8252 §7.3: a native
    /// app listens on whatever port the system gives it). Scheme, host,
    /// path and query still match exactly.
    pub fn matches(&self, presented: &str) -> bool {
        if !self.loopback {
            return presented == self.raw;
        }
        let (Some(registered), Some(candidate)) =
            (split_loopback(&self.raw), split_loopback(presented))
        else {
            return false;
        };
        // Same host text and same path and query, so the only difference
        // left is a numeric port; parsing is a last check that a browser
        // reads it the same way.
        registered == candidate && Url::parse(presented).is_ok()
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Plain http to a loopback host, where any port matches.
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl AsRef<str> for RedirectUri {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}

/// The authority as written, for a `scheme://authority/...` URI.
fn authority<'a>(raw: &'a str, scheme: &str) -> Option<&'a str> {
    let rest = raw.get(scheme.len()..)?.strip_prefix("://")?;
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Splits `http://host[:port]/tail` into the host as written and the rest
/// after the authority, checking that the port, if any, is a port number.
/// `None` for anything else, userinfo included.
fn split_loopback(raw: &str) -> Option<(&str, &str)> {
    let rest = raw.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.strip_prefix('[') {
        Some(inner) => {
            let close = inner.find(']')? + 2;
            authority.split_at(close)
        }
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        let numeric = (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        if !numeric || digits.parse::<u16>().is_err() {
            return None;
        }
    }
    Some((host, tail))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::oauth::clients::error::ErrorCode;

    fn uri(raw: &str) -> RedirectUri {
        RedirectUri::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn refusal(raw: &str) -> String {
        let error = RedirectUri::parse(raw).expect_err(raw);
        assert_eq!(error.code(), ErrorCode::InvalidRedirectUri, "{raw}");
        error.reason().to_owned()
    }

    #[test]
    fn accepts_https_loopback_http_and_private_use_schemes() {
        for raw in [
            "https://client.example.com/callback",
            "https://client.example.com:8443/cb?tenant=a",
            "https://203.0.113.7/cb",
            "https://localhost/cb",
            "com.example.app:/oauth2redirect",
            "com.example.app://callback",
        ] {
            assert!(!uri(raw).is_loopback(), "{raw}");
        }
        for raw in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:33418/callback",
            "http://[::1]/callback",
            "http://[::1]:8080/callback",
            "http://localhost:6274/oauth/callback",
            "http://localhost",
        ] {
            assert!(uri(raw).is_loopback(), "{raw}");
        }
    }

    #[test]
    fn refuses_what_cannot_safely_receive_a_code() {
        let cases = [
            ("/callback", "absolute URL"),
            ("callback", "absolute URL"),
            ("https://client.example.com/cb#top", "fragment"),
            ("https://client.example.com/cb#", "fragment"),
            ("https://user:pw@client.example.com/cb", "user name"),
            ("https://user@client.example.com/cb", "user name"),
            ("https://@client.example.com/cb", "user name"),
            ("http://client.example.com/cb", "loopback"),
            ("http://127.0.0.1.evil.com/cb", "loopback"),
            ("http://localhost.evil.com/cb", "loopback"),
            ("http://localhost@evil.com/cb", "user name"),
            ("http://localhost:80@evil.com/cb", "user name"),
            ("http://127.0.0.2/cb", "loopback"),
            ("http://127.1/cb", "loopback"),
            ("http://2130706433/cb", "loopback"),
            ("http://LOCALHOST/cb", "loopback"),
            ("http://[0:0:0:0:0:0:0:1]/cb", "loopback"),
            ("http://10.0.0.1/cb", "loopback"),
            ("HTTPS://client.example.com/cb", "lower case"),
            ("javascript:alert(1)", "javascript"),
            ("data:text/html,<script>alert(1)</script>", "data"),
            ("file:///etc/passwd", "file"),
            ("myapp://callback", "reverse domain"),
            ("urn:ietf:wg:oauth:2.0:oob", "reverse domain"),
            ("https://client.example.com/c b", "space"),
            ("https://client.example.com/cb\n", "control"),
            ("\thttps://client.example.com/cb", "control"),
            ("https:client.example.com/cb", "https://host/path"),
            ("com.example.app:", "nothing after"),
        ];
        for (raw, reason) in cases {
            let shown = refusal(raw);
            assert!(shown.contains(reason), "{raw}: {shown}");
        }
        let long = format!("https://client.example.com/{}", "a".repeat(2000));
        assert!(refusal(&long).contains("longer than"));
    }

    #[test]
    fn non_loopback_uris_match_only_exactly() {
        let registered = uri("https://client.example.com/cb?tenant=a");
        assert!(registered.matches("https://client.example.com/cb?tenant=a"));
        for presented in [
            "https://CLIENT.example.com/cb?tenant=a",
            "HTTPS://client.example.com/cb?tenant=a",
            "https://client.example.com:443/cb?tenant=a",
            "https://client.example.com:8443/cb?tenant=a",
            "https://client.example.com/cb?tenant=b",
            "https://client.example.com/cb?tenant=a&x=1",
            "https://client.example.com/cb",
            "https://client.example.com/cb/?tenant=a",
            "https://client.example.com/cb/../cb?tenant=a",
            "https://client.example.com/x/../cb?tenant=a",
            "https://client.example.com/cb%2F..%2Fadmin?tenant=a",
            "https://client.example.com/CB?tenant=a",
            "https://client.example.com/cb?tenant=a#",
            "https://client.example.com.evil.com/cb?tenant=a",
            "https://client.example.com@evil.com/cb?tenant=a",
            "http://client.example.com/cb?tenant=a",
            " https://client.example.com/cb?tenant=a",
            "",
        ] {
            assert!(!registered.matches(presented), "{presented}");
        }
        // https to a loopback host gets no port leeway: that is for http.
        let https_local = uri("https://127.0.0.1:8443/cb");
        assert!(!https_local.matches("https://127.0.0.1:9443/cb"));
        let native = uri("com.example.app:/cb");
        assert!(native.matches("com.example.app:/cb"));
        assert!(!native.matches("com.example.app:/cb2"));
        assert!(!native.matches("com.example.evil:/cb"));
    }

    #[test]
    fn loopback_http_matches_any_port_and_nothing_else() {
        let registered = uri("http://127.0.0.1/callback");
        for presented in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:1/callback",
            "http://127.0.0.1:33418/callback",
            "http://127.0.0.1:65535/callback",
        ] {
            assert!(registered.matches(presented), "{presented}");
        }
        for presented in [
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:+80/callback",
            "http://127.0.0.1:0x50/callback",
            "http://127.0.0.1:123456/callback",
            "http://127.0.0.1.evil.com/callback",
            "http://127.0.0.1.evil.com:8080/callback",
            "http://127.0.0.1:8080@evil.com/callback",
            "http://127.0.0.1@evil.com/callback",
            "http://evil.com@127.0.0.1:8080/callback",
            "http://127.0.0.1:8080\\@evil.com/callback",
            "http://localhost:8080/callback",
            "http://[::1]:8080/callback",
            "http://127.1:8080/callback",
            "https://127.0.0.1:8080/callback",
            "HTTP://127.0.0.1:8080/callback",
            "http://127.0.0.1:8080/callback/",
            "http://127.0.0.1:8080/Callback",
            "http://127.0.0.1:8080/callback/../callback",
            "http://127.0.0.1:8080/x/../callback",
            "http://127.0.0.1:8080/callback?x=1",
            "http://127.0.0.1:8080/callback#frag",
            "http://127.0.0.1:8080",
        ] {
            assert!(!registered.matches(presented), "{presented}");
        }

        let with_port = uri("http://localhost:6274/oauth/callback?client=cc");
        assert!(with_port.matches("http://localhost:50123/oauth/callback?client=cc"));
        assert!(with_port.matches("http://localhost/oauth/callback?client=cc"));
        assert!(!with_port.matches("http://localhost:50123/oauth/callback"));
        assert!(!with_port.matches("http://LOCALHOST:50123/oauth/callback?client=cc"));
        assert!(!with_port.matches("http://localhost@evil.com/oauth/callback?client=cc"));
        assert!(!with_port.matches("http://localhost.evil.com/oauth/callback?client=cc"));

        let v6 = uri("http://[::1]/cb");
        assert!(v6.matches("http://[::1]:9999/cb"));
        assert!(!v6.matches("http://[::1]9999/cb"));
        assert!(!v6.matches("http://[::2]:9999/cb"));
        assert!(!v6.matches("http://[::1:9999/cb"));
    }

    proptest! {
        /// Whatever is presented, a URI that matches a loopback
        /// registration lands on the registered host, path and query,
        /// whatever its port.
        #[test]
        fn a_loopback_match_differs_only_by_port(
            presented in "http://(127\\.0\\.0\\.1|localhost|\\[::1\\]|evil\\.com)(:[0-9]{0,6}|[:@][0-9a-z@.:]{0,8})?(/cb|/cb/|/x|\\\\cb)(\\?a=1)?",
        ) {
            let registered = uri("http://127.0.0.1/cb");
            if registered.matches(&presented) {
                let url = Url::parse(&presented).unwrap();
                prop_assert_eq!(url.host_str(), Some("127.0.0.1"));
                prop_assert_eq!(url.path(), "/cb");
                prop_assert_eq!(url.query(), None);
                prop_assert_eq!(url.scheme(), "http");
                prop_assert_eq!(url.username(), "");
                prop_assert_eq!(url.password(), None);
                prop_assert_eq!(url.fragment(), None);
            }
        }
    }
}
