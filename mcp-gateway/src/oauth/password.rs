//! Account passwords: PBKDF2-HMAC-SHA256 through `ring`, stored as a
//! self-describing string so that the iteration count can rise later without
//! invalidating the hashes already stored:
//!
//! ```text
//! pbkdf2-sha256$<iterations>$<salt, base64url>$<hash, base64url>
//! ```
//!
//! Hashing and verifying are deliberately slow (about 0.3 s of one core at
//! [`ITERATIONS`]): callers on the async runtime run [`hash`], [`verify`] and
//! [`verify_against_dummy`] inside `tokio::task::spawn_blocking`, so that a
//! burst of sign-ins cannot stall every other request on the worker threads.

use std::num::NonZeroU32;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    pbkdf2,
    rand::{SecureRandom, SystemRandom},
};
use shared_models::secret::Secret;

/// The work factor for new hashes (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
/// Stored hashes carry their own count, so raising this affects new hashes
/// only; [`needs_rehash`] tells a caller when to upgrade one after a sign-in.
pub const ITERATIONS: u32 = 600_000;

const SCHEME: &str = "pbkdf2-sha256";
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
/// Stored strings asking for more work than this are refused unread: a
/// tampered row must not be able to pin a core for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;
const MIN_CHARS: usize = 10;
const MAX_BYTES: usize = 1024;

/// A hash no password produces, at the current work factor: verifying
/// against it costs what verifying a real account costs, which is all that
/// [`verify_against_dummy`] needs. (PBKDF2 derives the full key before it
/// compares, so the hash bytes themselves do not change the time taken.)
const DUMMY: &str =
    "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_CHARS} characters long")]
    TooShort,
    #[error("the password must be at most {MAX_BYTES} bytes long")]
    TooLong,
    #[error("no random salt could be drawn from the system")]
    Random,
}

/// A password that meets the policy: at least ten characters (counted as
/// Unicode scalar values, so a passphrase in any script counts fairly) and
/// at most 1024 bytes (no one types more, and a bound keeps a form post
/// from making the server hash megabytes). Never printed: it is held as a
/// [`Secret`].
#[derive(Debug, Clone)]
pub struct Password(Secret<String>);

impl Password {
    pub fn parse(s: String) -> Result<Self, PasswordError> {
        if s.len() > MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        if s.chars().count() < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        Ok(Self(Secret::new(s)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// Hashes a new password at [`ITERATIONS`] with a fresh 16-byte salt.
/// CPU-heavy: run it in `tokio::task::spawn_blocking`.
pub fn hash(password: &Password, rng: &SystemRandom) -> Result<String, PasswordError> {
    hash_with_iterations(password, rng, ITERATIONS)
}

/// [`hash`] at a chosen work factor, so that tests need not pay for the
/// real one.
pub(crate) fn hash_with_iterations(
    password: &Password,
    rng: &SystemRandom,
    iterations: u32,
) -> Result<String, PasswordError> {
    let iterations = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    let mut salt = [0u8; SALT_LEN];
    rng.fill(&mut salt).map_err(|_| PasswordError::Random)?;
    let mut hash = [0u8; HASH_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.expose().as_bytes(),
        &mut hash,
    );
    Ok(format!(
        "{SCHEME}${iterations}${}${}",
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(hash)
    ))
}

/// Whether `password` is the one `stored` was made from, compared in
/// constant time by `ring`. A stored string that does not parse matches
/// nothing. CPU-heavy: run it in `tokio::task::spawn_blocking`.
pub fn verify(password: &str, stored: &str) -> bool {
    let Some(stored) = Stored::parse(stored) else {
        return false;
    };
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        stored.iterations,
        &stored.salt,
        password.as_bytes(),
        &stored.hash,
    )
    .is_ok()
}

/// Spends the time a [`verify`] against a real account would, for a sign-in
/// whose account does not exist, so that the response time does not tell
/// an attacker which email addresses have accounts.
pub fn verify_against_dummy(password: &str) {
    // The result is false by construction; only the time spent matters.
    let _ = std::hint::black_box(verify(password, DUMMY));
}

/// Whether a stored hash was made with less work than new ones get (or does
/// not parse), so that the caller can re-hash the password it has just
/// verified.
pub fn needs_rehash(stored: &str) -> bool {
    Stored::parse(stored).is_none_or(|stored| stored.iterations.get() < ITERATIONS)
}

/// A stored hash, taken apart.
#[derive(Debug, PartialEq, Eq)]
struct Stored {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Stored {
    fn parse(stored: &str) -> Option<Self> {
        let mut parts = stored.split('$');
        let (Some(SCHEME), Some(iterations), Some(salt), Some(hash), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        // Digits only: `u32::from_str` would also take a leading `+`.
        if !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .filter(|&n| n <= MAX_ITERATIONS)
            .and_then(NonZeroU32::new)?;
        let salt = URL_SAFE_NO_PAD.decode(salt).ok()?;
        let hash = URL_SAFE_NO_PAD.decode(hash).ok()?;
        (salt.len() == SALT_LEN && hash.len() == HASH_LEN).then_some(Self {
            iterations,
            salt,
            hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    const FAST: u32 = 1_000;

    fn password(s: &str) -> Password {
        Password::parse(s.to_owned()).unwrap()
    }

    fn fast_hash(s: &str) -> String {
        hash_with_iterations(&password(s), &SystemRandom::new(), FAST).unwrap()
    }

    #[test]
    fn a_hash_verifies_its_own_password_only() {
        let stored = fast_hash("correct horse battery");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("", &stored));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        assert_ne!(
            fast_hash("correct horse battery"),
            fast_hash("correct horse battery")
        );
    }

    #[test]
    fn the_stored_form_describes_itself() {
        let stored = fast_hash("correct horse battery");
        let parts: Vec<&str> = stored.split('$').collect();
        assert_eq!(parts.len(), 4, "{stored}");
        assert_eq!(parts[0], "pbkdf2-sha256");
        assert_eq!(parts[1], "1000");
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 16);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[3]).unwrap().len(), 32);
        let parsed = Stored::parse(&stored).unwrap();
        assert_eq!(parsed.iterations.get(), FAST);
    }

    #[test]
    fn the_iteration_count_is_read_from_the_stored_string() {
        let stored = fast_hash("correct horse battery");
        assert!(verify("correct horse battery", &stored));
        // The same salt and hash claimed at another count no longer match:
        // verify used the count it found, not a constant.
        let relabelled = stored.replacen("$1000$", "$1001$", 1);
        assert!(!verify("correct horse battery", &relabelled));
        assert!(needs_rehash(&stored));
    }

    #[test]
    fn a_tampered_hash_or_salt_matches_nothing() {
        let stored = fast_hash("correct horse battery");
        let (head, hash) = stored.rsplit_once('$').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(hash).unwrap();
        bytes[0] ^= 1;
        let tampered = format!("{head}${}", URL_SAFE_NO_PAD.encode(&bytes));
        assert!(!verify("correct horse battery", &tampered));

        let parts: Vec<&str> = stored.split('$').collect();
        let mut salt = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        salt[15] ^= 0x80;
        let resalted = format!(
            "{}${}${}${}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(&salt),
            parts[3]
        );
        assert!(!verify("correct horse battery", &resalted));
    }

    #[test]
    fn unparseable_stored_strings_match_nothing() {
        let stored = fast_hash("correct horse battery");
        let (head, _) = stored.rsplit_once('$').unwrap();
        for bad in [
            String::new(),
            "plaintext".to_owned(),
            stored.replacen("pbkdf2-sha256", "pbkdf2-sha512", 1),
            stored.replacen("$1000$", "$0$", 1),
            stored.replacen("$1000$", "$+1000$", 1),
            stored.replacen("$1000$", "$99999999999$", 1),
            stored.replacen("$1000$", "$20000000$", 1),
            format!("{stored}$extra"),
            format!("{head}$not*base64"),
            format!("{head}$AAAA"),
            head.to_owned(),
        ] {
            assert!(Stored::parse(&bad).is_none(), "{bad}");
            assert!(!verify("correct horse battery", &bad), "{bad}");
            assert!(needs_rehash(&bad), "{bad}");
        }
    }

    #[test]
    fn the_dummy_hash_is_well_formed_at_the_current_work_factor() {
        let dummy = Stored::parse(DUMMY).unwrap();
        assert_eq!(dummy.iterations.get(), ITERATIONS);
        assert!(!needs_rehash(DUMMY));
    }

    /// The one test at the real work factor: a hash made by [`hash`] verifies,
    /// is labelled 600,000, and checking an unknown account costs about what
    /// checking a real one does.
    #[test]
    fn the_real_work_factor_round_trips_and_the_dummy_costs_as_much() {
        let stored = hash(&password("correct horse battery"), &SystemRandom::new()).unwrap();
        assert!(stored.starts_with("pbkdf2-sha256$600000$"), "{stored}");
        assert!(!needs_rehash(&stored));

        let started = Instant::now();
        assert!(verify("correct horse battery", &stored));
        let real = started.elapsed();
        let started = Instant::now();
        verify_against_dummy("correct horse battery");
        let dummy = started.elapsed();
        // Loose bounds: the machine is shared, and only the order of
        // magnitude is in question (a dummy that skipped the work would be
        // thousands of times faster).
        assert!(
            dummy * 4 > real && real * 4 > dummy,
            "verify took {real:?}, the dummy {dummy:?}"
        );
    }

    #[test]
    fn the_policy_names_its_reason() {
        let short = Password::parse("nine char".to_owned()).unwrap_err();
        assert!(matches!(short, PasswordError::TooShort));
        assert!(
            short.to_string().contains("at least 10 characters"),
            "{short}"
        );

        let long = Password::parse("x".repeat(1025)).unwrap_err();
        assert!(matches!(long, PasswordError::TooLong));
        assert!(long.to_string().contains("at most 1024 bytes"), "{long}");

        assert!(Password::parse("ten chars!".to_owned()).is_ok());
        assert!(Password::parse("x".repeat(1024)).is_ok());
        // Ten characters, more than ten bytes: characters are what count.
        assert!(Password::parse("äöüäöüäöüä".to_owned()).is_ok());
        assert!(Password::parse("äöüäöüäöü".to_owned()).is_err());
    }

    #[test]
    fn a_password_never_prints() {
        let password = password("correct horse battery");
        assert!(!format!("{password:?}").contains("horse"));
    }
}
