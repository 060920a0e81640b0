//! The one interface the login path asks for an account, whichever store is configured.

use std::borrow::Cow;

use super::account::{User, Users};
use super::database::UserDb;
use super::ldap::Directory;
use crate::database::QueryError;

/// Where accounts come from (`users.store`).
#[derive(Debug, Clone)]
pub enum UserStore {
    /// The users file, read at start and by SIGHUP: lookups are in memory and never fail.
    File(Users),
    /// The SQL database, read at every login: a change made with `watchword users` counts
    /// at the next login on every replica, and nothing is cached here.
    Database(UserDb),
    /// An LDAP directory, asked at every login. It holds people only, and checks their
    /// password itself (a bind as them): the login path asks [`Directory::authenticate`]
    /// instead of [`UserStore::find`] and argon2.
    Directory(Directory),
}

impl UserStore {
    /// The person (`service = false`) or service account called `name` (exact match).
    pub async fn find(
        &self,
        service: bool,
        name: &str,
    ) -> Result<Option<Cow<'_, User>>, QueryError> {
        match self {
            UserStore::File(users) => Ok(if service {
                users.service(name)
            } else {
                users.get(name)
            }
            .map(Cow::Borrowed)),
            UserStore::Database(db) => Ok(db.find(service, name).await?.map(Cow::Owned)),
            // No hash to check a secret against: service accounts are never in the directory,
            // and people are looked up together with their password (`directory()`).
            UserStore::Directory(_) => Ok(None),
        }
    }

    /// Service accounts that have an authentication code (a login by code is checked against
    /// each of them). Only the users file has them yet; the database store has no column for
    /// them, so a code login against it finds none (and costs one dummy check).
    pub fn with_authentication_code(&self) -> Vec<&User> {
        match self {
            UserStore::File(users) => users.with_authentication_code(),
            UserStore::Database(_) | UserStore::Directory(_) => Vec::new(),
        }
    }

    /// The database store, when this is one (a rehash writes there; the file is never
    /// rewritten).
    pub fn database(&self) -> Option<&UserDb> {
        match self {
            UserStore::File(_) | UserStore::Directory(_) => None,
            UserStore::Database(db) => Some(db),
        }
    }

    /// The directory, when people's passwords are checked by binding to one.
    pub fn directory(&self) -> Option<&Directory> {
        match self {
            UserStore::Directory(d) => Some(d),
            UserStore::File(_) | UserStore::Database(_) => None,
        }
    }

    /// What to say in the start log: "3 users (file)" or "users in PostgreSQL".
    pub fn describe(&self) -> String {
        match self {
            UserStore::File(users) => format!("{} accounts from the users file", users.len()),
            UserStore::Database(db) => {
                format!("accounts in {}", db.database().kind().name())
            }
            UserStore::Directory(d) => format!("people in the LDAP directory at {}", d.url()),
        }
    }
}
