//! Paging: how big a page may be, where one begins, and what one holds.

use std::num::NonZeroU64;

use super::{User, UserId, ValidationError};

/// Default and bounds of a page, shared by every listing entry point.
pub const DEFAULT_PAGE_LIMIT: u32 = 10;
pub const MAX_PAGE_LIMIT: u32 = 100;

/// A page size that is known to be within `1..=MAX_PAGE_LIMIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    /// Checks a client-supplied limit.
    pub fn new(limit: u32) -> Result<Self, ValidationError> {
        if (1..=MAX_PAGE_LIMIT).contains(&limit) {
            Ok(Self(limit))
        } else {
            Err(ValidationError(format!(
                "limit must be an integer from 1 to {MAX_PAGE_LIMIT}"
            )))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(DEFAULT_PAGE_LIMIT)
    }
}

/// Where a page begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart {
    /// The lowest ids.
    First,
    /// Just after this id: keyset pagination, O(page) whatever the table size.
    After(UserId),
    /// After skipping this many users: offset pagination for `?page=P`, O(offset + page). Never
    /// zero (that page is `First`), so no backend can read "skip nothing" its own way.
    Skip(NonZeroU64),
}

/// One page of users and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub users: Vec<User>,
    /// The id to continue after, when there are more users beyond this page.
    pub next_after: Option<UserId>,
}

impl Page {
    /// Builds a page from up to `limit + 1` users in id order: the extra one only tells that the
    /// listing goes on, so backends fetch one more than asked instead of a second round trip.
    pub fn from_lookahead(mut users: Vec<User>, limit: PageLimit) -> Self {
        let limit = limit.get() as usize;
        let next_after = if users.len() > limit {
            users.truncate(limit);
            users.last().map(|u| u.id)
        } else {
            None
        };
        Self { users, next_after }
    }
}
