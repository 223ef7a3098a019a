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
pub struct UrlTarget {
    pub url: Url,
    pub host: String,
    pub port: u16,
    pub https: bool,
    pub addrs: Vec<SocketAddr>,
}

/// An SMTP server that passed the checks.
#[derive(Debug, Clone)]
pub struct SmtpTarget {
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
mod tests;
