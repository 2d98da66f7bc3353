//! Listing cursors: opaque to clients, so the pagination scheme can change without breaking them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::ServiceError;
use crate::domain::UserId;

const VERSION_PREFIX: &str = "v1:";

/// The cursor that continues a listing after `last`.
pub fn encode_cursor(last: UserId) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION_PREFIX}{last}"))
}

/// The id a cursor continues after; anything not produced by [`encode_cursor`] is a client error.
pub fn decode_cursor(cursor: &str) -> Result<UserId, ServiceError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(VERSION_PREFIX)?.parse().ok())
        .ok_or_else(|| ServiceError::InvalidArgument("cursor is invalid".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let id = UserId::new(12345).unwrap();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        let zero = URL_SAFE_NO_PAD.encode("v1:0");
        let negative = URL_SAFE_NO_PAD.encode("v1:-3");
        let unversioned = URL_SAFE_NO_PAD.encode("12");
        for bad in [
            "",
            "12",
            "!!!",
            "djE6",
            zero.as_str(),
            negative.as_str(),
            unversioned.as_str(),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
