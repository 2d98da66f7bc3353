//! Turning requests into service inputs. Everything a client can get wrong about the shape of a
//! request is caught here and reported as a 400 (or 413), before the service is called.

use std::num::NonZeroU64;

use lambda_http::Body;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::contract::headers;
use crate::contract::{FindRequest, UserFields, decode_cursor};
use crate::domain::{PageLimit, PageStart, UserId};
use crate::service::{IdempotencyKey, ServiceError};

/// Largest request body accepted. A user record is well under 1 KiB; the margin allows for
/// generous whitespace while keeping a hostile body from costing memory or CPU.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The user fields of a create or update body.
pub(super) fn user_fields(body: &Body) -> Result<UserFields, ApiError> {
    json(body)
}

/// The email a find asks for, from its body.
pub(super) fn find_email(body: &Body) -> Result<String, ApiError> {
    let FindRequest { email } = json(body)?;
    Ok(email)
}

fn json<T: DeserializeOwned>(body: &Body) -> Result<T, ApiError> {
    let bytes = body_bytes(body)?;
    // serde would also read a struct from a JSON array; the contract speaks only of objects.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::InvalidJson(
            "request body must be a JSON object".into(),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::InvalidJson(format!("invalid JSON body: {e}")))
}

/// The body's bytes, refusing anything over [`MAX_BODY_BYTES`].
pub(super) fn body_bytes(body: &Body) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = body.as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(bytes)
}

pub(super) fn user_id(raw: Option<&str>) -> Result<UserId, ApiError> {
    let raw = raw.unwrap_or_default();
    Ok(raw.parse::<UserId>().map_err(ServiceError::from)?)
}

/// The `Idempotency-Key` of a create, if it has one.
pub(super) fn idempotency_key(
    headers: &http::HeaderMap,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = headers.get(headers::IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    // A value that is not even visible ASCII fails the key's own rule, with its message.
    Ok(Some(IdempotencyKey::parse(&String::from_utf8_lossy(
        raw.as_bytes(),
    ))?))
}

/// The most users `?page=P` may skip (`(P - 1) x limit`). Skipping reads, and bills, every skipped
/// item on DynamoDB, so an unbounded page number would let one request page through the whole
/// table until the store timeout; cursors reach any depth at O(page).
pub const MAX_SKIPPED_USERS: u64 = 10_000;

/// Reads `page`, `limit` and `cursor` from a query string; other parameters are ignored.
pub(super) fn list_query(query: Option<&str>) -> Result<(PageStart, PageLimit), ApiError> {
    let (mut page, mut limit, mut cursor) = (None, None, None);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let slot = match key.as_ref() {
            "page" => &mut page,
            "limit" => &mut limit,
            "cursor" => &mut cursor,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(invalid(format!(
                "query parameter {key} is given more than once"
            )));
        }
    }
    let limit = match limit {
        None => PageLimit::default(),
        // Anything that is not a small integer gets the same out-of-range message as 0 would.
        Some(raw) => PageLimit::new(
            digits(&raw)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
        )
        .map_err(ServiceError::from)?,
    };
    let start = match (page, cursor) {
        (Some(_), Some(_)) => return Err(invalid("use either page or cursor, not both".into())),
        (None, Some(cursor)) => {
            PageStart::After(decode_cursor(&cursor).map_err(ServiceError::from)?)
        }
        (Some(raw), None) => {
            let page = digits(&raw)
                .filter(|p| *p >= 1)
                .ok_or_else(|| invalid("page must be an integer of at least 1".into()))?;
            let skipped = (page - 1).saturating_mul(u64::from(limit.get()));
            if skipped > MAX_SKIPPED_USERS {
                return Err(invalid(format!(
                    "page={page} with limit={} would skip more than {MAX_SKIPPED_USERS} users: \
                     follow next_cursor to page further",
                    limit.get()
                )));
            }
            NonZeroU64::new(skipped).map_or(PageStart::First, PageStart::Skip)
        }
        (None, None) => PageStart::First,
    };
    Ok((start, limit))
}

fn digits(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

fn invalid(message: String) -> ApiError {
    ApiError::Service(ServiceError::InvalidArgument(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Body {
        Body::Text(text.to_owned())
    }

    #[test]
    fn wrong_types_nulls_and_unknown_fields_are_refused() {
        for bad in [
            r#"{"name": 5, "email": "a@b.c"}"#,
            r#"{"name": "A", "email": "a@b.c", "age": "30"}"#,
            r#"{"name": "A", "email": "a@b.c", "age": 30.5}"#,
            r#"{"name": "A", "email": "a@b.c", "age": null}"#,
            r#"{"name": "A", "email": "a@b.c", "age": true}"#,
            r#"{"name": "A", "email": "a@b.c", "age": 1e400}"#,
            r#"{"name": "A", "email": "a@b.c", "role": "admin"}"#,
            r#"{"name": "A", "name": "B", "email": "a@b.c"}"#,
            r#"["A", "a@b.c"]"#,
            r#""text""#,
            "{",
            "",
            "  ",
        ] {
            assert!(
                matches!(user_fields(&body(bad)), Err(ApiError::InvalidJson(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn out_of_range_ages_reach_validation_as_integers() {
        let input = user_fields(&body(r#"{"name":"A","email":"a@b.c","age":-4}"#)).unwrap();
        assert_eq!(input.age, Some(-4));
    }

    /// Found by schemathesis: JSON Schema's `integer` (the OpenAPI contract) includes `36.0`.
    #[test]
    fn an_integral_age_may_be_written_with_a_fraction_of_zero() {
        let age = |json: &str| user_fields(&body(json)).map(|input| input.age);
        assert_eq!(age(r#"{"age": 36.0}"#).unwrap(), Some(36));
        assert_eq!(age(r#"{"age": 36}"#).unwrap(), Some(36));
        for wrong in [
            r#"{"age": 36.5}"#,
            r#"{"age": "36"}"#,
            r#"{"age": null}"#,
            r#"{"age": 1e300}"#,
        ] {
            assert!(age(wrong).is_err(), "{wrong}");
        }
        let message = age(r#"{"age": "36"}"#).err().unwrap().to_string();
        assert!(
            message.contains(r#"invalid type: string "36", expected i64"#),
            "{message}"
        );
    }

    #[test]
    fn bodies_over_the_limit_are_refused() {
        let fields = r#"{"name": "A", "email": "a@b.c"}"#;
        let just_fits = format!("{fields}{}", " ".repeat(MAX_BODY_BYTES - fields.len()));
        assert_eq!(just_fits.len(), MAX_BODY_BYTES);
        assert!(user_fields(&body(&just_fits)).is_ok());
        let too_big = Body::Binary(vec![b' '; MAX_BODY_BYTES + 1]);
        assert!(matches!(
            user_fields(&too_big),
            Err(ApiError::PayloadTooLarge)
        ));
    }

    #[test]
    fn listing_defaults_and_bounds() {
        assert_eq!(
            list_query(None).unwrap(),
            (PageStart::First, PageLimit::new(10).unwrap())
        );
        let skip = |n| PageStart::Skip(NonZeroU64::new(n).unwrap());
        assert_eq!(
            list_query(Some("page=3&limit=20&sort=name")).unwrap(),
            (skip(40), PageLimit::new(20).unwrap())
        );
        // The first page is the same whichever way it is asked for.
        assert_eq!(
            list_query(Some("page=1")).unwrap(),
            list_query(None).unwrap()
        );
        assert_eq!(list_query(Some("page=1001")).unwrap().0, skip(10_000));
        assert_eq!(
            list_query(Some("page=101&limit=100")).unwrap().0,
            skip(10_000)
        );
        for too_deep in [
            "page=1002",
            "page=102&limit=100",
            "page=1000000",
            "page=18446744073709551615&limit=100",
        ] {
            let error = list_query(Some(too_deep)).unwrap_err();
            assert!(
                error.to_string().contains("next_cursor"),
                "{too_deep}: {error}"
            );
        }
        for bad in [
            "page=0",
            "page=-1",
            "page=x",
            "page=",
            "page=1.5",
            "limit=0",
            "limit=101",
            "limit=abc",
            "limit=-5",
            "limit=99999999999",
            "limit=1&limit=2",
            "cursor=zzz",
            "page=1&cursor=djE6MQ",
        ] {
            assert!(list_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
