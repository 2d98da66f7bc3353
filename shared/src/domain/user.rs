//! The user record and the rules every user must satisfy, whichever store holds it.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

use email_address::{EmailAddress, Options};
use serde::{Deserialize, Serialize};

/// Longest name accepted, in Unicode characters (not bytes), so non-Latin names get the same room.
pub const NAME_MAX_CHARS: usize = 100;
/// Longest email accepted: the practical limit of an SMTP forward path (RFC 5321).
pub const EMAIL_MAX_CHARS: usize = 254;
/// Oldest age accepted; anything above is a typo, not a person.
pub const AGE_MAX: u8 = 150;

/// A user's identifier: a positive 64-bit integer assigned by the store.
///
/// Zero is excluded by the type so that "no id" can never be confused with a real one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(NonZeroU64);

impl UserId {
    /// The id for `value`, or `None` for zero.
    pub fn new(value: u64) -> Option<Self> {
        NonZeroU64::new(value).map(Self)
    }

    /// The id as a plain integer, for keys and wire formats.
    pub fn get(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a string is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user id must be a positive integer")]
pub struct InvalidUserId;

impl FromStr for UserId {
    type Err = InvalidUserId;

    /// Only plain ASCII digits: `u64::from_str` would also accept a leading `+`, which would make
    /// two spellings of one resource.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidUserId);
        }
        raw.parse::<u64>()
            .ok()
            .and_then(UserId::new)
            .ok_or(InvalidUserId)
    }
}

/// A stored user, valid by construction; on the wire it is a
/// [`UserRecord`](crate::contract::UserRecord).
///
/// `Debug` hides the name and email so that a stray `?user` in a log line cannot leak them.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub age: u8,
    /// Starts at 1 and grows by one with every change: the user's `ETag`.
    pub version: u64,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &"<redacted>")
            .field("email", &"<redacted>")
            .field("age", &self.age)
            .field("version", &self.version)
            .finish()
    }
}

/// A validated, normalised user that has no id yet: what a store is asked to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub age: u8,
}

impl NewUser {
    /// The stored user this becomes once the store has chosen `id`.
    pub fn with_id(self, id: UserId) -> User {
        User {
            id,
            name: self.name,
            email: self.email,
            age: self.age,
            version: 1,
        }
    }
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("age", &self.age)
            .finish_non_exhaustive()
    }
}

/// A validated partial update: `None` fields stay as they are.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    pub name: Option<String>,
    pub email: Option<String>,
    pub age: Option<u8>,
}

impl UserChanges {
    /// Applies the changes to `user` in place. Stores call this so that "what a partial update
    /// means" is defined once, not per backend.
    pub fn apply_to(&self, user: &mut User) {
        if let Some(name) = &self.name {
            user.name.clone_from(name);
        }
        if let Some(email) = &self.email {
            user.email.clone_from(email);
        }
        if let Some(age) = self.age {
            user.age = age;
        }
    }
}

impl fmt::Debug for UserChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserChanges")
            .field("name", &self.name.as_ref().map(|_| "<redacted>"))
            .field("email", &self.email.as_ref().map(|_| "<redacted>"))
            .field("age", &self.age)
            .finish()
    }
}

/// A rule a field broke; the message is written for the API's clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

/// Trims `raw` and checks it is a usable display name.
pub fn validate_name(raw: &str) -> Result<String, ValidationError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(ValidationError("name must not be empty".into()));
    }
    if chars > NAME_MAX_CHARS {
        return Err(ValidationError(format!(
            "name must be at most {NAME_MAX_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError(
            "name must not contain control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// Trims `raw` and checks it is a plain address (`local@domain`), keeping the user's spelling.
///
/// Display names (`Ann <ann@example.com>`) and IP-literal domains are refused: both are legal in
/// RFC 5322 but never what a sign-up form means.
pub fn validate_email(raw: &str) -> Result<String, ValidationError> {
    let email = raw.trim();
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(ValidationError(format!(
            "email must be at most {EMAIL_MAX_CHARS} characters"
        )));
    }
    let options = Options::default()
        .without_display_text()
        .without_domain_literal();
    EmailAddress::parse_with_options(email, options)
        .map_err(|_| ValidationError("email must be a valid email address".into()))?;
    Ok(email.to_owned())
}

/// The form under which an email is unique: two spellings that differ only in case are one user.
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

/// Checks an age given as any JSON integer (so that `-1` and `9999` get a range error, not a
/// type error).
pub fn validate_age(raw: i64) -> Result<u8, ValidationError> {
    u8::try_from(raw)
        .ok()
        .filter(|age| *age <= AGE_MAX)
        .ok_or_else(|| ValidationError(format!("age must be an integer from 0 to {AGE_MAX}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_positive_integers() {
        assert_eq!("42".parse::<UserId>().map(UserId::get), Ok(42));
        assert_eq!(
            "18446744073709551615".parse::<UserId>().map(UserId::get),
            Ok(u64::MAX)
        );
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "1.0",
            "abc",
            " 1",
            "1 ",
            "18446744073709551616",
            "１",
        ] {
            assert_eq!(bad.parse::<UserId>(), Err(InvalidUserId), "{bad:?}");
        }
    }

    #[test]
    fn names_are_trimmed_and_counted_in_characters() {
        assert_eq!(validate_name("  Ann Lee \t").unwrap(), "Ann Lee");
        assert!(validate_name("   ").is_err());
        assert!(validate_name("").is_err());
        let hundred_kanji = "漢".repeat(100);
        assert_eq!(validate_name(&hundred_kanji).unwrap(), hundred_kanji);
        assert!(validate_name(&"漢".repeat(101)).is_err());
        assert!(validate_name(&"a".repeat(101)).is_err());
        assert!(validate_name("Ann\u{0}Lee").is_err());
        assert!(validate_name("Ann\nLee").is_err());
    }

    #[test]
    fn emails_must_be_plain_addresses() {
        assert_eq!(
            validate_email(" Ann.Lee@Example.com ").unwrap(),
            "Ann.Lee@Example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@@example.com",
            "Ann <ann@example.com>",
            "ann@[127.0.0.1]",
            "ann lee@example.com",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn emails_are_limited_to_254_characters() {
        let local = "a".repeat(64);
        let domain_254 = format!(
            "{}.{}.{}.com",
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(57)
        );
        let at_limit = format!("{local}@{domain_254}");
        assert_eq!(at_limit.chars().count(), 254);
        assert!(validate_email(&at_limit).is_ok());
        let over = format!("{local}@e{domain_254}");
        assert!(validate_email(&over).is_err());
    }

    #[test]
    fn email_uniqueness_ignores_case() {
        assert_eq!(email_key("Ann@Example.COM"), email_key("ann@example.com"));
    }

    #[test]
    fn ages_are_zero_to_150() {
        assert_eq!(validate_age(0), Ok(0));
        assert_eq!(validate_age(150), Ok(150));
        assert!(validate_age(151).is_err());
        assert!(validate_age(-1).is_err());
        assert!(validate_age(i64::MAX).is_err());
    }

    #[test]
    fn debug_output_never_shows_personal_data() {
        let user = NewUser {
            name: "Ann Secret".into(),
            email: "ann.secret@example.com".into(),
            age: 30,
        }
        .with_id(UserId::new(7).unwrap());
        let changes = UserChanges {
            name: Some("Ann Secret".into()),
            email: Some("ann.secret@example.com".into()),
            age: None,
        };
        for shown in [format!("{user:?}"), format!("{changes:?}")] {
            assert!(
                !shown.contains("Secret") && !shown.contains("secret"),
                "{shown}"
            );
        }
    }

    #[test]
    fn changes_replace_only_present_fields() {
        let mut user = NewUser {
            name: "Ann".into(),
            email: "ann@example.com".into(),
            age: 30,
        }
        .with_id(UserId::new(1).unwrap());
        UserChanges {
            age: Some(31),
            ..UserChanges::default()
        }
        .apply_to(&mut user);
        assert_eq!(
            (user.name.as_str(), user.email.as_str(), user.age),
            ("Ann", "ann@example.com", 31)
        );
    }
}
