//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! used by the MCP authorization spec of 2025-11-25): a client that never
//! registered names itself by an https URL, and the document at that URL
//! says what a registration would have said.
//!
//! The URL is the client's to choose, so fetching it is fetching an
//! attacker's URL: it goes through the egress guard notifications use
//! (no private, loopback or metadata addresses unless the operator
//! allowlisted them; the connection goes to the address that was checked),
//! never follows a redirect, reads at most [`Limits::max_bytes`] and gives
//! up after [`Limits::timeout`]. Answers are cached, failures briefly, so a
//! client cannot make the server fetch on every request.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use serde_json::Value;
use shared_models::{
    outbound::{Client, FetchError, Fetched},
    time::{Clock, Timestamp},
};
use tokio::sync::OnceCell;
use url::Url;

use super::{
    error::RegistrationError,
    redirect::RedirectUri,
    registration::{client_name, redirect_uris, token_endpoint_auth_method},
};

/// A client_id URL longer than this is refused unfetched.
pub const MAX_CLIENT_ID_CHARS: usize = 2000;

/// How documents are fetched and kept.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The whole fetch: resolution, connection, TLS and body.
    pub timeout: Duration,
    /// A larger document is refused; no more than this is held.
    pub max_bytes: usize,
    /// A document is kept for its `Cache-Control: max-age`, within these.
    pub min_ttl: Duration,
    pub max_ttl: Duration,
    /// Without a `max-age`.
    pub default_ttl: Duration,
    /// How long a failure stands before the URL is fetched again.
    pub failure_ttl: Duration,
    /// Documents (and failures) kept at most.
    pub capacity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            // The draft recommends 5 kB; real documents are well under
            // that, and 64 KiB is still cheap to hold.
            max_bytes: 64 * 1024,
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 60 * 60),
            default_ttl: Duration::from_secs(60 * 60),
            failure_ttl: Duration::from_secs(30),
            capacity: 1_000,
        }
    }
}

/// What a client's metadata document says that this server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadata {
    /// The URL, exactly as the client gave it.
    pub client_id: String,
    /// The URL's host: what the consent screen shows beside the name, and
    /// instead of it when there is none (the draft's advice against
    /// phishing).
    pub host: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
}

impl ClientMetadata {
    /// The registered redirect URI that `presented` matches, if any.
    pub fn redirect_uri(&self, presented: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|uri| uri.matches(presented))
    }
}

/// Why a client_id URL gives no client. Cloned to every request that waited
/// on the same fetch, so sources are shared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MetadataError {
    #[error("the client_id is not a client metadata document URL: {reason}")]
    InvalidClientId {
        reason: &'static str,
        #[source]
        source: Option<url::ParseError>,
    },
    #[error("the client's metadata document could not be fetched")]
    Fetch(#[source] Arc<FetchError>),
    #[error("the client's metadata document did not arrive within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("the client's metadata document URL answered HTTP {status}{}", redirect_note(.status))]
    Status { status: u16 },
    #[error("the client's metadata document is served as {content_type:?}, not as JSON")]
    ContentType { content_type: Option<String> },
    #[error("the client's metadata document is not valid JSON")]
    NotJson(#[source] Arc<serde_json::Error>),
    #[error("the client's metadata document is not a JSON object")]
    NotObject,
    #[error("the document's client_id is not exactly the URL it was fetched from")]
    ClientIdMismatch,
    #[error(
        "the document has {field}: a client identified by a metadata document cannot share a secret"
    )]
    SharedSecret { field: &'static str },
    #[error("the client's metadata document is invalid")]
    Invalid(#[source] RegistrationError),
}

fn redirect_note(status: &u16) -> &'static str {
    if (300..400).contains(status) {
        " (redirects are not followed)"
    } else {
        ""
    }
}

/// Whether `client_id` is meant as a metadata document URL rather than an
/// id this server issued (ours never start with a scheme).
pub fn is_metadata_client_id(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Checks a client_id URL as the draft requires: https, with a path,
/// without a fragment, dot segments, user name or password. It must also
/// be written in the normal form a URL parser gives it (lower-case scheme
/// and host, no default port), since the document's `client_id` is compared
/// with it character for character, and one client must not have many
/// spellings.
///
/// `http://` is accepted here and left to the egress policy, which allows
/// plain http only to hosts its allowlist names, as for webhooks: that is
/// how a test serves a document from 127.0.0.1. With the default (empty)
/// allowlist every http URL is refused before anything is sent.
pub fn client_id_url(client_id: &str) -> Result<Url, MetadataError> {
    let invalid = |reason| MetadataError::InvalidClientId {
        reason,
        source: None,
    };
    if client_id.chars().count() > MAX_CLIENT_ID_CHARS {
        return Err(invalid("it is longer than 2000 characters"));
    }
    if client_id
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(invalid("it contains a space or control character"));
    }
    let url = Url::parse(client_id).map_err(|source| MetadataError::InvalidClientId {
        reason: "it is not a URL",
        source: Some(source),
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid("it must be an https URL"));
    }
    let Some(rest) = client_id
        .get(url.scheme().len()..)
        .and_then(|r| r.strip_prefix("://"))
    else {
        return Err(invalid("it must be written https://host/path"));
    };
    if client_id.contains('#') {
        return Err(invalid("it must not contain a fragment"));
    }
    let authority_end = rest.find(['/', '?', '\\']).unwrap_or(rest.len());
    if !url.username().is_empty() || url.password().is_some() || rest[..authority_end].contains('@')
    {
        return Err(invalid("it must not contain a user name or password"));
    }
    let path = &rest[authority_end..];
    let path = &path[..path.find('?').unwrap_or(path.len())];
    if !path.starts_with('/') {
        return Err(invalid("it must have a path"));
    }
    let dot_segment = path.split(['/', '\\']).any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    });
    if dot_segment {
        return Err(invalid("it must not contain . or .. path segments"));
    }
    if url.as_str() != client_id {
        return Err(invalid(
            "it must be written in normal form: lower-case scheme and host, no default port, \
             percent-encoding as a URL parser writes it",
        ));
    }
    Ok(url)
}

/// Reads a fetched metadata document for `client_id`: a JSON object whose
/// `client_id` is exactly that URL, with `redirect_uris`, an optional
/// `client_name`, no shared secret, and `token_endpoint_auth_method`
/// `none` if it says. Other fields are the client's business for other
/// servers and are ignored.
pub fn parse_document(client_id: &str, body: &[u8]) -> Result<ClientMetadata, MetadataError> {
    let url = client_id_url(client_id)?;
    let document: Value =
        serde_json::from_slice(body).map_err(|e| MetadataError::NotJson(Arc::new(e)))?;
    let Value::Object(fields) = document else {
        return Err(MetadataError::NotObject);
    };
    if fields.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(MetadataError::ClientIdMismatch);
    }
    for field in ["client_secret", "client_secret_expires_at"] {
        if fields.contains_key(field) {
            return Err(MetadataError::SharedSecret { field });
        }
    }
    token_endpoint_auth_method(&fields).map_err(MetadataError::Invalid)?;
    Ok(ClientMetadata {
        client_id: client_id.to_owned(),
        host: url.host_str().unwrap_or_default().to_owned(),
        client_name: client_name(&fields).map_err(MetadataError::Invalid)?,
        redirect_uris: redirect_uris(&fields).map_err(MetadataError::Invalid)?,
    })
}

/// The draft asks for `200 OK` and `application/json` or a more specific
/// `application/<something>+json`.
fn check_answer(fetched: &Fetched) -> Result<(), MetadataError> {
    if fetched.status != 200 {
        return Err(MetadataError::Status {
            status: fetched.status,
        });
    }
    let json = fetched.content_type.as_deref().is_some_and(|value| {
        let essence = value.split(';').next().unwrap_or_default().trim();
        let essence = essence.to_ascii_lowercase();
        essence == "application/json"
            || essence
                .strip_prefix("application/")
                .is_some_and(|sub| sub.len() > "+json".len() && sub.ends_with("+json"))
    });
    if !json {
        return Err(MetadataError::ContentType {
            content_type: fetched
                .content_type
                .as_ref()
                .map(|c| c.chars().take(100).collect()),
        });
    }
    Ok(())
}

/// How long to keep a document: its `max-age` within the limits; the least
/// of them for `no-cache` and `no-store`, since even a document that asks
/// not to be kept must not cost a fetch per request.
fn time_to_live(cache_control: Option<&str>, limits: &Limits) -> Duration {
    let mut max_age = None;
    for directive in cache_control.unwrap_or_default().split(',') {
        let (name, argument) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" => return limits.min_ttl,
            "max-age" => {
                max_age = argument
                    .trim()
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
            _ => {}
        }
    }
    max_age
        .map(|age| age.clamp(limits.min_ttl, limits.max_ttl))
        .unwrap_or(limits.default_ttl)
}

/// A fetch's result and until when it stands.
#[derive(Debug, Clone)]
struct Outcome {
    result: Result<Arc<ClientMetadata>, MetadataError>,
    expires_at: Timestamp,
}

/// One URL's cache entry: empty while its fetch is under way, so that
/// requests arriving meanwhile wait for that fetch rather than start one.
type Slot = OnceCell<Outcome>;

/// Fetches and caches client metadata documents. One per process.
///
/// Documents are kept for their `Cache-Control: max-age`, clamped to
/// [`Limits::min_ttl`]..=[`Limits::max_ttl`], [`Limits::default_ttl`]
/// without one. A failure (an error status, a refused or unreachable host,
/// an invalid document) stands for [`Limits::failure_ttl`]: the draft says
/// not to cache error responses or invalid documents, and this does not
/// keep them as a client's metadata, but it does not fetch the same
/// failing URL again for that long, so a broken or hostile client cannot
/// turn every request into a fetch. Set it to zero to refetch every time.
pub struct MetadataDocuments {
    client: Client,
    clock: Arc<dyn Clock>,
    limits: Limits,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl std::fmt::Debug for MetadataDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataDocuments")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl MetadataDocuments {
    /// `client` is the process's egress-guarded client, whose policy (and
    /// allowlist) guards notifications too.
    pub fn new(client: Client, clock: Arc<dyn Clock>) -> Self {
        Self::with_limits(client, clock, Limits::default())
    }

    pub fn with_limits(client: Client, clock: Arc<dyn Clock>, limits: Limits) -> Self {
        Self {
            client,
            clock,
            limits,
            slots: Mutex::default(),
        }
    }

    /// The client `client_id` names, from the cache or fetched now. A URL
    /// that is not a valid client_id is refused without a fetch.
    pub async fn get(&self, client_id: &str) -> Result<Arc<ClientMetadata>, MetadataError> {
        client_id_url(client_id)?;
        let slot = self.slot(client_id);
        slot.get_or_init(|| self.load(client_id))
            .await
            .result
            .clone()
    }

    /// The URL's entry if it is being fetched or still fresh; a new, empty
    /// one otherwise, making room for it if the cache is full.
    fn slot(&self, client_id: &str) -> Arc<Slot> {
        let now = self.clock.now();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(client_id) {
            let fresh = slot.get().is_none_or(|outcome| outcome.expires_at > now);
            if fresh {
                return slot.clone();
            }
        } else if slots.len() >= self.limits.capacity {
            evict(&mut slots, now, self.limits.capacity);
        }
        let slot = Arc::new(Slot::new());
        slots.insert(client_id.to_owned(), slot.clone());
        slot
    }

    async fn load(&self, client_id: &str) -> Outcome {
        let fetch = self.client.fetch(client_id, self.limits.max_bytes);
        let result = match tokio::time::timeout(self.limits.timeout, fetch).await {
            Err(_) => Err(MetadataError::Timeout(self.limits.timeout)),
            Ok(Err(error)) => Err(MetadataError::Fetch(Arc::new(error))),
            Ok(Ok(fetched)) => check_answer(&fetched)
                .and_then(|()| parse_document(client_id, &fetched.body))
                .map(|metadata| {
                    let ttl = time_to_live(fetched.cache_control.as_deref(), &self.limits);
                    (Arc::new(metadata), ttl)
                }),
        };
        // From when the answer came, not when it was asked for.
        let now = self.clock.now();
        let expires = |ttl: Duration| now + ttl;
        match result {
            Ok((metadata, ttl)) => Outcome {
                result: Ok(metadata),
                expires_at: expires(ttl),
            },
            Err(error) => {
                tracing::info!(error = %shared_models::chain(&error), "client metadata document refused");
                Outcome {
                    result: Err(error),
                    expires_at: expires(self.limits.failure_ttl),
                }
            }
        }
    }
}

/// Makes room for one more entry: drops what has expired, and if the cache
/// is still full, the entry that would expire first. Fetches under way are
/// left alone (their waiters hold them anyway) unless nothing else is left.
fn evict(slots: &mut HashMap<String, Arc<Slot>>, now: Timestamp, capacity: usize) {
    slots.retain(|_, slot| slot.get().is_none_or(|outcome| outcome.expires_at > now));
    if slots.len() < capacity {
        return;
    }
    let oldest = slots
        .iter()
        .filter_map(|(url, slot)| slot.get().map(|outcome| (outcome.expires_at, url)))
        .min()
        .map(|(_, url)| url.clone())
        .or_else(|| slots.keys().next().cloned());
    if let Some(url) = oldest {
        slots.remove(&url);
    }
}

#[cfg(test)]
mod tests;
