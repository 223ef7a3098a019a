//! The SSRF guard. Channel URLs come from clients, so before anything is
//! sent the destination is resolved and every address it resolves to is
//! checked: loopback, private, link-local, cloud metadata and the other
//! non-public ranges are refused unless the operator allowlisted them. The
//! sender then connects only to the addresses checked here, so a DNS answer
//! that changes between the check and the connection cannot redirect it.

use std::{
    collections::HashSet,
    fmt, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use ipnet::IpNet;
use url::{Host, Url};

/// Why a destination is not public, in words an operator recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Unspecified,
    ThisNetwork,
    Loopback,
    Private,
    SharedAddressSpace,
    LinkLocal,
    CloudMetadata,
    ProtocolAssignments,
    Documentation,
    Benchmarking,
    Multicast,
    Broadcast,
    Reserved,
    UniqueLocal,
    SiteLocal,
    DiscardOnly,
    LocalNat64,
}

impl AddressClass {
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::ThisNetwork => "\"this network\" (0.0.0.0/8)",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::SharedAddressSpace => "carrier-grade NAT (100.64.0.0/10)",
            Self::LinkLocal => "link-local",
            Self::CloudMetadata => "cloud metadata",
            Self::ProtocolAssignments => "IETF protocol assignment",
            Self::Documentation => "documentation",
            Self::Benchmarking => "benchmarking",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Reserved => "reserved",
            Self::UniqueLocal => "unique local (fc00::/7)",
            Self::SiteLocal => "site-local",
            Self::DiscardOnly => "discard-only",
            Self::LocalNat64 => "local-use NAT64",
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors name the host, the address and its class, never a URL's path or
/// query: those carry the webhook's credentials.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("egress allowlist entry {entry:?} is not a host name, IP address or CIDR: {reason}")]
    InvalidEntry { entry: String, reason: String },
    #[error("the URL is not valid")]
    InvalidUrl(#[source] url::ParseError),
    #[error("only https URLs can be reached, not {scheme}")]
    Scheme { scheme: String },
    #[error("the URL names no host")]
    NoHost,
    #[error(
        "{host} would be reached over plain http; use https (plain http is allowed only to hosts on the egress allowlist)"
    )]
    PlainHttp { host: String },
    #[error(
        "unencrypted SMTP to {host} is allowed only to hosts on the egress allowlist; use starttls or tls"
    )]
    PlainSmtp { host: String },
    #[error(
        "{}, which notifications may not reach (an operator can allow it with the egress allowlist)",
        forbidden_subject(host, address, class, embedded)
    )]
    Forbidden {
        host: String,
        address: IpAddr,
        class: AddressClass,
        /// The IPv4 address an IPv6 one carries (v4-mapped, NAT64, 6to4),
        /// which is what was judged.
        embedded: Option<Ipv4Addr>,
    },
    #[error("could not resolve {host}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
}

/// `10.0.0.1 is a private address` for a literal, `db.internal resolves
/// to 10.0.0.1, a private address` for a name.
fn forbidden_subject(
    host: &str,
    address: &IpAddr,
    class: &AddressClass,
    embedded: &Option<Ipv4Addr>,
) -> String {
    let mut shown = address.to_string();
    if let Some(v4) = embedded {
        shown.push_str(&format!(" (IPv4 {v4})"));
    }
    if host.trim_matches(['[', ']']) == address.to_string() {
        format!("{shown} is a {class} address")
    } else {
        format!("{host} resolves to {shown}, a {class} address")
    }
}

impl EgressError {
    /// A refusal stands until the configuration changes; a failed DNS lookup
    /// may succeed on a later attempt.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::Resolve { .. } | Self::NoAddress { .. })
    }
}

/// A URL destination that passed the checks: the addresses to connect to,
/// and the host name for TLS and the `Host` header.
#[derive(Debug, Clone)]
pub(crate) struct UrlTarget {
    pub url: Url,
    pub host: String,
    pub port: u16,
    pub https: bool,
    pub addrs: Vec<SocketAddr>,
}

/// An SMTP server that passed the checks.
#[derive(Debug, Clone)]
pub(crate) struct SmtpTarget {
    /// The name the server's certificate must carry.
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

/// Which non-public destinations the operator allows.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    /// Lower case, without a trailing dot.
    hosts: HashSet<String>,
    nets: Vec<IpNet>,
}

impl EgressPolicy {
    /// Parses allowlist entries: host names (matched exactly, ignoring
    /// case), IP addresses and CIDRs.
    pub fn from_entries(entries: &[String]) -> Result<Self, EgressError> {
        let mut policy = Self::default();
        for entry in entries {
            let trimmed = entry.trim();
            if let Ok(net) = trimmed.parse::<IpNet>() {
                policy.nets.push(net.trunc());
            } else if let Ok(ip) = trimmed.trim_matches(['[', ']']).parse::<IpAddr>() {
                policy.nets.push(IpNet::from(ip));
            } else if trimmed.contains('/') {
                return Err(invalid_entry(
                    entry,
                    "the CIDR's address or prefix length is invalid",
                ));
            } else {
                policy.hosts.insert(host_name(entry, trimmed)?);
            }
        }
        Ok(policy)
    }

    /// The creation-time check of a channel URL.
    pub async fn check_url(&self, url: &str) -> Result<(), EgressError> {
        self.resolve_url(url).await.map(drop)
    }

    /// The creation-time check of an SMTP server.
    pub async fn check_smtp(
        &self,
        host: &str,
        port: u16,
        encrypted: bool,
    ) -> Result<(), EgressError> {
        self.resolve_smtp(host, port, encrypted).await.map(drop)
    }

    /// Resolves a URL and checks every address: https is required unless
    /// every address is allowlisted.
    pub(crate) async fn resolve_url(&self, raw: &str) -> Result<UrlTarget, EgressError> {
        let url = Url::parse(raw).map_err(EgressError::InvalidUrl)?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(EgressError::Scheme {
                    scheme: other.to_owned(),
                });
            }
        };
        let port = url.port_or_known_default().ok_or(EgressError::NoHost)?;
        let (host, literal) = match url.host().ok_or(EgressError::NoHost)? {
            Host::Domain("") => return Err(EgressError::NoHost),
            Host::Domain(domain) => (domain.to_owned(), None),
            Host::Ipv4(ip) => (ip.to_string(), Some(IpAddr::V4(ip))),
            Host::Ipv6(ip) => (ip.to_string(), Some(IpAddr::V6(ip))),
        };
        let (addrs, all_listed) = self.admit(&host, literal, port).await?;
        if !https && !all_listed {
            return Err(EgressError::PlainHttp { host });
        }
        Ok(UrlTarget {
            url,
            host,
            port,
            https,
            addrs,
        })
    }

    /// Resolves an SMTP server and checks every address; an unencrypted
    /// connection needs every address allowlisted.
    pub(crate) async fn resolve_smtp(
        &self,
        host: &str,
        port: u16,
        encrypted: bool,
    ) -> Result<SmtpTarget, EgressError> {
        let bare = host.trim().trim_matches(['[', ']']);
        if bare.is_empty() {
            return Err(EgressError::NoHost);
        }
        let literal = bare.parse::<IpAddr>().ok();
        let (addrs, all_listed) = self.admit(bare, literal, port).await?;
        if !encrypted && !all_listed {
            return Err(EgressError::PlainSmtp {
                host: bare.to_owned(),
            });
        }
        Ok(SmtpTarget {
            host: bare.to_owned(),
            addrs,
        })
    }

    /// Resolves `host` (unless it is an address already) and judges every
    /// address it gives; also says whether all of them are allowlisted.
    async fn admit(
        &self,
        host: &str,
        literal: Option<IpAddr>,
        port: u16,
    ) -> Result<(Vec<SocketAddr>, bool), EgressError> {
        let addrs = match literal {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => resolve(host, port).await?,
        };
        let host_listed = literal.is_none() && self.hosts.contains(&normalise_host(host));
        let mut all_listed = true;
        for addr in &addrs {
            all_listed &= self.judge(host, host_listed, addr.ip())?;
        }
        Ok((addrs, all_listed))
    }

    /// Whether `ip` is allowlisted (`Ok(true)`), public (`Ok(false)`), or
    /// neither.
    fn judge(&self, host: &str, host_listed: bool, ip: IpAddr) -> Result<bool, EgressError> {
        let embedded = embedded_v4(ip);
        let listed = host_listed
            || self.nets.iter().any(|net| {
                net.contains(&ip) || embedded.is_some_and(|v4| net.contains(&IpAddr::V4(v4)))
            });
        if listed {
            return Ok(true);
        }
        match classify(ip) {
            Some(class) => Err(EgressError::Forbidden {
                host: host.to_owned(),
                address: ip,
                class,
                embedded,
            }),
            None => Ok(false),
        }
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
    let found = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| EgressError::Resolve {
            host: host.to_owned(),
            source,
        })?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in found {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(EgressError::NoAddress {
            host: host.to_owned(),
        });
    }
    Ok(addrs)
}

fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn invalid_entry(entry: &str, reason: &str) -> EgressError {
    EgressError::InvalidEntry {
        entry: entry.to_owned(),
        reason: reason.to_owned(),
    }
}

fn host_name(entry: &str, trimmed: &str) -> Result<String, EgressError> {
    let name = normalise_host(trimmed);
    if name.is_empty() || name.len() > 253 {
        return Err(invalid_entry(entry, "a host name has 1 to 253 characters"));
    }
    for label in name.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(invalid_entry(
                entry,
                "host names are letters, digits and hyphens between dots (no wildcards)",
            ));
        }
    }
    Ok(name)
}

/// The IPv4 address an IPv6 one stands for: v4-mapped (`::ffff:0:0/96`),
/// NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) all reach IPv4 hosts.
fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    let bits = u128::from(v6);
    let low32 = Ipv4Addr::from(bits as u32);
    if in_v6(v6, 0xffff_0000_0000, 96) || in_v6(v6, 0x0064_ff9b << 96, 96) {
        Some(low32)
    } else if in_v6(v6, 0x2002 << 112, 16) {
        Some(Ipv4Addr::from((bits >> 80) as u32))
    } else {
        None
    }
}

/// The class of a non-public address; `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// First match wins, so a narrow range comes before the range holding it.
const V4_RANGES: &[([u8; 4], u8, AddressClass)] = &[
    ([0, 0, 0, 0], 32, AddressClass::Unspecified),
    ([0, 0, 0, 0], 8, AddressClass::ThisNetwork),
    ([10, 0, 0, 0], 8, AddressClass::Private),
    ([100, 64, 0, 0], 10, AddressClass::SharedAddressSpace),
    ([127, 0, 0, 0], 8, AddressClass::Loopback),
    ([169, 254, 169, 254], 32, AddressClass::CloudMetadata),
    ([169, 254, 0, 0], 16, AddressClass::LinkLocal),
    ([172, 16, 0, 0], 12, AddressClass::Private),
    ([192, 0, 0, 0], 24, AddressClass::ProtocolAssignments),
    ([192, 0, 2, 0], 24, AddressClass::Documentation),
    ([192, 88, 99, 0], 24, AddressClass::Reserved),
    ([192, 168, 0, 0], 16, AddressClass::Private),
    ([198, 18, 0, 0], 15, AddressClass::Benchmarking),
    ([198, 51, 100, 0], 24, AddressClass::Documentation),
    ([203, 0, 113, 0], 24, AddressClass::Documentation),
    ([224, 0, 0, 0], 4, AddressClass::Multicast),
    ([255, 255, 255, 255], 32, AddressClass::Broadcast),
    ([240, 0, 0, 0], 4, AddressClass::Reserved),
];

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let bits = u32::from(ip);
    V4_RANGES.iter().find_map(|(net, len, class)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
        (bits & mask == u32::from_be_bytes(*net)).then_some(*class)
    })
}

const V6_RANGES: &[(u128, u8, AddressClass)] = &[
    (0, 128, AddressClass::Unspecified),
    (1, 128, AddressClass::Loopback),
    (0x0064_ff9b_0001 << 80, 48, AddressClass::LocalNat64),
    (0x0100 << 112, 64, AddressClass::DiscardOnly),
    (0x2001_0db8 << 96, 32, AddressClass::Documentation),
    (0x2001_0002 << 96, 48, AddressClass::Benchmarking),
    (0x2001 << 112, 23, AddressClass::ProtocolAssignments),
    (0x3fff << 112, 20, AddressClass::Documentation),
    (
        (0xfd00_0ec2 << 96) | 0x254,
        128,
        AddressClass::CloudMetadata,
    ),
    (0xfc00 << 112, 7, AddressClass::UniqueLocal),
    (0xfe80 << 112, 10, AddressClass::LinkLocal),
    (0xfec0 << 112, 10, AddressClass::SiteLocal),
    (0xff00 << 112, 8, AddressClass::Multicast),
];

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if let Some((_, _, class)) = V6_RANGES.iter().find(|(net, len, _)| in_v6(ip, *net, *len)) {
        return Some(*class);
    }
    // Only 2000::/3 is allocated for global unicast; everything else
    // (IPv4-compatible ::/96 among it) is reserved.
    if in_v6(ip, 0x2000 << 112, 3) {
        None
    } else {
        Some(AddressClass::Reserved)
    }
}

fn in_v6(ip: Ipv6Addr, net: u128, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == net
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(raw: &str) -> Option<AddressClass> {
        classify(raw.parse().unwrap())
    }

    #[test]
    fn every_non_public_v4_range_is_named() {
        use AddressClass::*;
        let cases = [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", ThisNetwork),
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("169.254.169.254", CloudMetadata),
            ("169.254.0.1", LinkLocal),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Broadcast),
            ("240.0.0.1", Reserved),
            ("192.0.2.7", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.7", Documentation),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.1", Benchmarking),
            ("192.0.0.8", ProtocolAssignments),
        ];
        for (ip, expected) in cases {
            assert_eq!(class(ip), Some(expected), "{ip}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "172.15.255.255",
            "93.184.216.34",
        ] {
            assert_eq!(class(public), None, "{public}");
        }
    }

    #[test]
    fn every_non_public_v6_range_is_named() {
        use AddressClass::*;
        let cases = [
            ("::", Unspecified),
            ("::1", Loopback),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("fd00:ec2::254", CloudMetadata),
            ("fe80::1", LinkLocal),
            ("fec0::1", SiteLocal),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2001::1", ProtocolAssignments),
            ("100::1", DiscardOnly),
            ("64:ff9b:1::1", LocalNat64),
            ("::127.0.0.1", Reserved),
            ("4000::1", Reserved),
        ];
        for (ip, expected) in cases {
            assert_eq!(class(ip), Some(expected), "{ip}");
        }
        for public in ["2606:4700:4700::1111", "2a00:1450:4001::200e"] {
            assert_eq!(class(public), None, "{public}");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_as_ipv4() {
        use AddressClass::*;
        assert_eq!(class("::ffff:127.0.0.1"), Some(Loopback));
        assert_eq!(class("::ffff:169.254.169.254"), Some(CloudMetadata));
        assert_eq!(class("64:ff9b::10.0.0.1"), Some(Private));
        // 6to4: 2002:c0a8:0101:: carries 192.168.1.1.
        assert_eq!(class("2002:c0a8:101::1"), Some(Private));
        assert_eq!(class("2002:7f00:1::"), Some(Loopback));
        assert_eq!(class("::ffff:8.8.8.8"), None);
        assert_eq!(class("64:ff9b::808:808"), None);
        assert_eq!(class("2002:808:808::1"), None);
    }

    #[test]
    fn entries_parse_or_name_the_bad_one() {
        let entries = [
            "127.0.0.1/32",
            "10.0.0.0/8",
            "::1",
            "[fd00::1]",
            "Relay.Internal.",
            "fd00::/8",
        ]
        .map(str::to_owned);
        let policy = EgressPolicy::from_entries(&entries).unwrap();
        assert!(policy.hosts.contains("relay.internal"));
        assert_eq!(policy.nets.len(), 5);
        for bad in [
            "10.0.0.0/33",
            "*.example.com",
            "exa mple.com",
            "host/8",
            "-bad.example",
        ] {
            let err = EgressPolicy::from_entries(&[bad.to_owned()]).unwrap_err();
            assert!(
                matches!(&err, EgressError::InvalidEntry { entry, .. } if entry == bad),
                "{bad}"
            );
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn allowlisted_nets_cover_their_embedded_forms() {
        let policy = EgressPolicy::from_entries(&["127.0.0.1/32".to_owned()]).unwrap();
        assert!(
            policy
                .judge("x", false, "127.0.0.1".parse().unwrap())
                .unwrap()
        );
        assert!(
            policy
                .judge("x", false, "::ffff:127.0.0.1".parse().unwrap())
                .unwrap()
        );
        assert!(
            !policy
                .judge("x", false, "8.8.8.8".parse().unwrap())
                .unwrap()
        );
        let err = policy
            .judge("x", false, "127.0.0.2".parse().unwrap())
            .unwrap_err();
        assert!(matches!(
            err,
            EgressError::Forbidden {
                class: AddressClass::Loopback,
                ..
            }
        ));
    }

    proptest::proptest! {
        #[test]
        fn every_ipv6_wrapping_of_an_ipv4_address_is_judged_alike(bits: u32) {
            let v4 = Ipv4Addr::from(bits);
            let expected = classify_v4(v4);
            let mapped = v4.to_ipv6_mapped();
            let nat64 = Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(bits));
            let six_to_four = Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(bits) << 80) | 1);
            for wrapped in [mapped, nat64, six_to_four] {
                proptest::prop_assert_eq!(classify(IpAddr::V6(wrapped)), expected, "{}", wrapped);
            }
        }
    }

    #[test]
    fn refusals_read_as_a_sentence() {
        let named = EgressError::Forbidden {
            host: "db.internal".to_owned(),
            address: "10.1.2.3".parse().unwrap(),
            class: AddressClass::Private,
            embedded: None,
        };
        assert!(
            named
                .to_string()
                .starts_with("db.internal resolves to 10.1.2.3, a private address, which notifications may not reach"),
            "{named}"
        );
        let literal = EgressError::Forbidden {
            host: "::ffff:127.0.0.1".to_owned(),
            address: "::ffff:127.0.0.1".parse().unwrap(),
            class: AddressClass::Loopback,
            embedded: Some(Ipv4Addr::LOCALHOST),
        };
        assert!(
            literal
                .to_string()
                .starts_with("::ffff:127.0.0.1 (IPv4 127.0.0.1) is a loopback address, which"),
            "{literal}"
        );
    }

    #[tokio::test]
    async fn literal_urls_are_judged_without_dns() {
        let open = EgressPolicy::default();
        let err = open
            .check_url("https://[::ffff:127.0.0.1]/hook?token=s3cret")
            .await
            .unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("loopback") && shown.contains("::ffff:127.0.0.1"),
            "{shown}"
        );
        assert!(
            !shown.contains("s3cret") && !shown.contains("hook"),
            "{shown}"
        );
        // WHATWG parsing turns these spellings into 127.0.0.1.
        for sneaky in [
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://127.1/",
        ] {
            let err = open.check_url(sneaky).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    EgressError::Forbidden {
                        class: AddressClass::Loopback,
                        ..
                    }
                ),
                "{sneaky}: {err}"
            );
        }
        let err = open
            .check_url("https://169.254.169.254/latest/meta-data/")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("169.254.169.254 is a cloud metadata address"),
            "{err}"
        );
        open.check_url("https://93.184.216.34/hook").await.unwrap();
    }

    #[tokio::test]
    async fn plain_http_needs_the_allowlist() {
        let open = EgressPolicy::default();
        let err = open
            .check_url("http://93.184.216.34/hook")
            .await
            .unwrap_err();
        assert!(matches!(err, EgressError::PlainHttp { .. }), "{err}");
        let err = open.check_url("ftp://93.184.216.34/").await.unwrap_err();
        assert!(matches!(err, EgressError::Scheme { .. }), "{err}");
        let listed = EgressPolicy::from_entries(&["93.184.216.0/24".to_owned()]).unwrap();
        listed.check_url("http://93.184.216.34/hook").await.unwrap();
        let err = open
            .check_smtp("93.184.216.34", 25, false)
            .await
            .unwrap_err();
        assert!(matches!(err, EgressError::PlainSmtp { .. }), "{err}");
        open.check_smtp("93.184.216.34", 465, true).await.unwrap();
        listed.check_smtp("93.184.216.34", 25, false).await.unwrap();
        let err = open.check_smtp("[::1]", 465, true).await.unwrap_err();
        assert!(
            matches!(
                err,
                EgressError::Forbidden {
                    class: AddressClass::Loopback,
                    ..
                }
            ),
            "{err}"
        );
    }
}
