//! Accounts and where they are kept: [`account`] is what a login is checked against (the
//! same for every store), [`file`](mod@file) the read-only users file.

pub mod account;
pub mod file;

pub use account::{User, Users, MAX_NAME_BYTES};
pub use file::{UsersError, DEMO_USERS_TOML};
