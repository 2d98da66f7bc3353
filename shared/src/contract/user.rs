//! A user on the wire, both ways, defined once for server and client: what a client sends
//! ([`UserFields`]) and what an answer shows ([`UserRecord`]).

use serde::de::{Deserialize, Deserializer};
use serde::{Deserialize as DeriveDeserialize, Serialize};

use crate::domain::UserId;

/// A user's fields as a client sends them, before validation: for a create, an absent field is
/// missing (or takes its default); for a change, it stays as it is. The server reads it as
/// strictly as the contract says: unknown fields and `null`s are refused rather than ignored (a
/// typo such as `"emial"` would otherwise change nothing silently, and `{"age": null}` cannot
/// mean "leave age alone"), and `age` is any JSON integer, so that validation, not parsing,
/// judges its range.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFields {
    #[serde(
        default,
        deserialize_with = "non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
    #[serde(
        default,
        deserialize_with = "integer",
        skip_serializing_if = "Option::is_none"
    )]
    pub age: Option<i64>,
}

/// A user as an answer shows it: `{"id", "name", "email", "age"}`, and `version` where the body
/// carries it (a page's users; a single user's version is its `ETag`). The server writes it
/// borrowing the user's strings (`UserRecord<&str>`, no copy); a client reads it owned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, DeriveDeserialize)]
pub struct UserRecord<S = String> {
    pub id: UserId,
    pub name: S,
    pub email: S,
    pub age: u8,
    /// The version to send as `If-Match` (the `ETag`, or a page's `version`); `None` only from a
    /// server older than listed versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// A JSON integer, written as `36` or, as JSON Schema's `integer` allows (and generated clients
/// sometimes send), `36.0`. A fraction, a string or a `null` is still a wrong type.
fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    struct Integer;
    impl serde::de::Visitor<'_> for Integer {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("i64")
        }
        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<i64, E> {
            Ok(value)
        }
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<i64, E> {
            i64::try_from(value)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(value), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<i64, E> {
            // Integral and well inside i64 (validation bounds it far more tightly).
            if value.fract() == 0.0 && value.abs() < 1e15 {
                Ok(value as i64)
            } else {
                Err(E::invalid_type(serde::de::Unexpected::Float(value), &self))
            }
        }
    }
    deserializer.deserialize_any(Integer).map(Some)
}

/// A field that is present must have a value: `null` is refused rather than read as "absent".
fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_one_side_writes_the_other_reads() {
        let sent = UserFields {
            name: Some("Ada".into()),
            email: None,
            age: Some(36),
        };
        let text = serde_json::to_string(&sent).unwrap();
        assert_eq!(
            text, r#"{"name":"Ada","age":36}"#,
            "absent fields are left out"
        );
        assert_eq!(serde_json::from_str::<UserFields>(&text).unwrap(), sent);

        let shown = UserRecord {
            id: UserId::new(1).unwrap(),
            name: "Ada",
            email: "ada@example.com",
            age: 36,
            version: None,
        };
        let text = serde_json::to_string(&shown).unwrap();
        assert_eq!(
            text,
            r#"{"id":1,"name":"Ada","email":"ada@example.com","age":36}"#
        );
        let read: UserRecord = serde_json::from_str(&text).unwrap();
        assert_eq!((read.name.as_str(), read.version), ("Ada", None));
        let listed = UserRecord {
            version: Some(2),
            ..shown
        };
        let read: UserRecord =
            serde_json::from_str(&serde_json::to_string(&listed).unwrap()).unwrap();
        assert_eq!(read.version, Some(2));
    }
}
