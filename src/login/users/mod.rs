//! Accounts and where they are kept: [`account`] is what a login is checked against (the
//! same for every store), [`file`](mod@file) the read-only users file, [`database`] the SQL
//! tables, [`ldap`] a directory that checks passwords itself, and [`store`] the one
//! interface the login path asks, whichever is configured;
//! [`health`] says whether the database store is known to be down.

pub mod account;
pub mod database;
pub mod file;
pub mod health;
pub mod ldap;
pub mod store;

pub use account::{
    canonical_name, holds_control_character, look_alike, User, Users, MAX_NAME_BYTES,
};
pub use file::{UsersError, DEMO_USERS_TOML};
pub use store::UserStore;
