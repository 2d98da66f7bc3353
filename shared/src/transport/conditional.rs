//! HTTP conditional requests (RFC 9110, section 13) over the user's version: every user response
//! carries a strong `ETag` (`"<version>"`), `If-Match` makes a write conditional on it (checked
//! by the store in the same atomic step as the write), and `If-None-Match` lets a `GET` answer
//! `304 Not Modified`.

use http::{HeaderMap, header};

use super::error::ApiError;
use crate::domain::Precondition;
use crate::service::ServiceError;

/// One entity tag of a request header: `*`, or an opaque tag, weak (`W/"..."`) or strong.
#[derive(Debug, PartialEq, Eq)]
enum Tag<'a> {
    Any,
    Strong(&'a str),
    Weak(&'a str),
}

/// Reads every value of `name` as `*` or a comma-separated list of entity tags; `None` when the
/// header is absent. An opaque tag may itself hold commas (`"a,b"`), so the list is scanned tag
/// by tag rather than split.
fn tags(headers: &HeaderMap, name: header::HeaderName) -> Result<Option<Vec<Tag<'_>>>, ApiError> {
    let mut found = None;
    for value in headers.get_all(&name) {
        let invalid = || {
            ApiError::Service(ServiceError::InvalidArgument(format!(
                "{name} must be * or a list of quoted entity tags such as \"3\""
            )))
        };
        let mut rest = value.to_str().map_err(|_| invalid())?.trim();
        // An empty field is an empty list: as if the header were not there.
        if rest.is_empty() {
            continue;
        }
        let list: &mut Vec<Tag> = found.get_or_insert_with(Vec::new);
        loop {
            let (tag, after) = if let Some(after) = rest.strip_prefix('*') {
                (Tag::Any, after)
            } else {
                let (weak, quoted) = match rest.strip_prefix("W/") {
                    Some(quoted) => (true, quoted),
                    None => (false, rest),
                };
                let body = quoted.strip_prefix('"').ok_or_else(invalid)?;
                let end = body.find('"').ok_or_else(invalid)?;
                let opaque = &body[..end];
                (
                    if weak {
                        Tag::Weak(opaque)
                    } else {
                        Tag::Strong(opaque)
                    },
                    &body[end + 1..],
                )
            };
            list.push(tag);
            let after = after.trim_start();
            if after.is_empty() {
                break;
            }
            rest = after.strip_prefix(',').ok_or_else(invalid)?.trim_start();
        }
    }
    Ok(found)
}

/// Our version in an opaque tag, if the tag is one of ours.
fn version_of(opaque: &str) -> Option<u64> {
    if opaque.is_empty() || !opaque.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    opaque.parse().ok()
}

/// What `If-Match` requires of the user a write changes. Comparison is strong: a weak tag, or a
/// tag that is not ours, never matches, so such a request fails its precondition.
pub(super) fn if_match(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    let Some(tags) = tags(headers, header::IF_MATCH)? else {
        return Ok(Precondition::None);
    };
    if tags.contains(&Tag::Any) {
        return Ok(Precondition::Exists);
    }
    let mut versions = tags.iter().filter_map(|tag| match tag {
        Tag::Strong(opaque) => version_of(opaque),
        Tag::Any | Tag::Weak(_) => None,
    });
    match (versions.next(), versions.next()) {
        (Some(version), None) => Ok(Precondition::Version(version)),
        // No tag of ours: no current version can match. Versions start at 1.
        (None, _) => Ok(Precondition::Version(0)),
        (Some(_), Some(_)) => Err(ApiError::Service(ServiceError::InvalidArgument(
            "If-Match may name one version of the user, not several".into(),
        ))),
    }
}

/// Whether `If-None-Match` matches the user at `version` (weak comparison, as for a `GET`):
/// then the client's copy is current and the answer is `304`.
pub(super) fn if_none_match(headers: &HeaderMap, version: u64) -> Result<bool, ApiError> {
    let Some(tags) = tags(headers, header::IF_NONE_MATCH)? else {
        return Ok(false);
    };
    Ok(tags.iter().any(|tag| match tag {
        Tag::Any => true,
        Tag::Strong(opaque) | Tag::Weak(opaque) => version_of(opaque) == Some(version),
    }))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(name: header::HeaderName, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(&name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn if_match_states_the_precondition() {
        let cases = [
            (vec![], Precondition::None),
            (vec!["*"], Precondition::Exists),
            (vec!["\"7\""], Precondition::Version(7)),
            (vec!["\"x\", \"7\""], Precondition::Version(7)),
            (vec!["\"7\", *"], Precondition::Exists),
            // Weak or foreign tags never match under strong comparison.
            (vec!["W/\"7\""], Precondition::Version(0)),
            (vec!["\"abc\""], Precondition::Version(0)),
        ];
        for (values, expected) in cases {
            let found = if_match(&headers(header::IF_MATCH, &values)).unwrap();
            assert_eq!(found, expected, "{values:?}");
        }
        assert_eq!(
            if_match(&headers(header::IF_MATCH, &["\"a,b\", \"7\""])).unwrap(),
            Precondition::Version(7),
            "a comma inside a tag"
        );
        assert_eq!(
            if_match(&headers(header::IF_MATCH, &[""])).unwrap(),
            Precondition::None,
            "an empty header is no header"
        );
        for bad in ["7", "\"7", "W/7", "\"a\"b\"", "\"1\", \"2\"", "\"1\" \"2\""] {
            assert!(
                if_match(&headers(header::IF_MATCH, &[bad])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let matches = |values: &[&str], version| {
            if_none_match(&headers(header::IF_NONE_MATCH, values), version).unwrap()
        };
        assert!(matches(&["\"3\""], 3));
        assert!(matches(&["W/\"3\""], 3));
        assert!(matches(&["\"1\", \"3\""], 3));
        assert!(matches(&["\"1\"", "\"3\""], 3), "several header lines");
        assert!(matches(&["*"], 3));
        assert!(!matches(&["\"2\""], 3));
        assert!(!matches(&[], 3));
    }
}
