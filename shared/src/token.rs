//! Names that must never collide: a write's `ClientRequestToken` and the `write_token` it leaves
//! on the item, the client's idempotency key for a create. Two writes that drew the same name
//! would be taken for one (DynamoDB answers the second from the first's token), so the bits come
//! from the operating system's generator, not from a fast generator seeded by time and thread.

/// 128 random bits from the OS, as 32 lower-case hex digits. Fails only where the OS has no
/// randomness to give (an error for the caller to report, never a weaker name).
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bits = [0u8; 16];
    getrandom::fill(&mut bits)?;
    Ok(hex::encode(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_128_bits_of_hex_and_differ() {
        let tokens: std::collections::HashSet<String> =
            (0..1_000).map(|_| random_token().unwrap()).collect();
        assert_eq!(tokens.len(), 1_000);
        assert!(tokens.iter().all(|token| {
            token.len() == 32
                && token
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }));
    }
}
