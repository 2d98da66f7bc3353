//! Preconditions on a write.

/// What a conditional write requires of the user it changes (HTTP's `If-Match`), checked in the
/// same atomic step as the write, never read-then-write in the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precondition {
    /// Unconditional: a missing user is `NotFound`.
    #[default]
    None,
    /// The user must exist (`If-Match: *`); otherwise `PreconditionFailed`.
    Exists,
    /// The user must be at this version; otherwise (or if missing) `PreconditionFailed`.
    Version(u64),
}
