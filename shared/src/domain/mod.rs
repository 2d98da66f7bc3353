//! The domain types, at the bottom of the crate: what a user is and the rules it satisfies, page
//! bounds and positions, and what a conditional write requires. They depend on nothing else here;
//! [`store`](crate::store) is built on them, [`service`](crate::service) on the store, and the
//! HTTP [`transport`](crate::transport) on the service.

mod paging;
mod precondition;
mod user;

pub use paging::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Page, PageLimit, PageStart};
pub use precondition::Precondition;
pub use user::{
    AGE_MAX, EMAIL_MAX_CHARS, InvalidUserId, NAME_MAX_CHARS, NewUser, User, UserChanges, UserId,
    ValidationError, email_key, validate_age, validate_email, validate_name,
};
