//! `Idempotency-Key` on create (the IETF httpapi draft's semantics): what a key may be, how it is
//! scoped to its caller, and the fingerprint a retry must match.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::ServiceError;
use crate::domain::NewUser;
use crate::store::IdempotentCreate;

/// How long a key is remembered unless configured otherwise.
pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A client's idempotency key: 1 to 255 printable ASCII characters, optionally quoted as the
/// draft's structured-field string (`"8e03978e-..."`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        let key = raw
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or(raw);
        let printable = key.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if key.is_empty() || key.len() > 255 || !printable || key.trim().is_empty() {
            return Err(ServiceError::invalid(
                "Idempotency-Key must be 1 to 255 printable ASCII characters",
            ));
        }
        Ok(Self(key.to_owned()))
    }
}

/// An idempotent create as the service asks the store for it: the key scoped to `caller` (the
/// authenticated principal; one caller cannot replay another's create), both hashed so that
/// neither is stored in clear, and the request's fingerprint.
pub(super) fn record_for(
    key: &IdempotencyKey,
    caller: &str,
    user: &NewUser,
    ttl: Duration,
) -> IdempotentCreate {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    IdempotentCreate {
        key: sha256_hex(&[caller.as_bytes(), key.0.as_bytes()]),
        fingerprint: sha256_hex(&[
            user.name.as_bytes(),
            user.email.as_bytes(),
            user.age.to_string().as_bytes(),
        ]),
        now,
        expires_at: now.saturating_add(ttl.as_secs().max(1)),
    }
}

/// SHA-256 of the parts, each length-prefixed so that no two lists of parts hash alike.
fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, email: &str, age: u8) -> NewUser {
        NewUser {
            name: name.to_owned(),
            email: email.to_owned(),
            age,
        }
    }

    #[test]
    fn keys_are_printable_ascii_of_1_to_255() {
        for good in [
            "a",
            "8e03978e-40d5-43e8-bc93-6894a57f9324",
            "\"quoted\"",
            &"k".repeat(255),
        ] {
            assert!(IdempotencyKey::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "\"\"",
            "   ",
            "caf\u{e9}",
            "tab\there",
            &"k".repeat(256),
        ] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            IdempotencyKey::parse("\"abc\"").unwrap(),
            IdempotencyKey::parse("abc").unwrap()
        );
    }

    #[test]
    fn records_are_scoped_to_the_caller_and_fingerprint_the_request() {
        let key = IdempotencyKey::parse("k1").unwrap();
        let ttl = Duration::from_secs(60);
        let ann = user("Ann", "ann@example.com", 30);
        let first = record_for(&key, "arn:aws:iam::1:user/a", &ann, ttl);
        let again = record_for(&key, "arn:aws:iam::1:user/a", &ann, ttl);
        assert_eq!(
            (&first.key, &first.fingerprint),
            (&again.key, &again.fingerprint)
        );
        assert_eq!(first.expires_at, first.now + 60);
        let other_caller = record_for(&key, "arn:aws:iam::1:user/b", &ann, ttl);
        assert_ne!(first.key, other_caller.key);
        for different in [
            user("Ann", "ann@example.com", 31),
            user("Anne", "ann@example.com", 30),
        ] {
            assert_ne!(
                first.fingerprint,
                record_for(&key, "arn:aws:iam::1:user/a", &different, ttl).fingerprint
            );
        }
        assert!(!first.key.contains("k1") && first.key.len() == 64, "hashed");
    }
}
