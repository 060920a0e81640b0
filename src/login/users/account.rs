//! The accounts a login is checked against: who may log in, with which hash, roles and extra
//! claims, and the rules every account name follows whatever store it comes from.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::login::password::StoredHash;

/// Longest user name accepted at login (bytes).
pub const MAX_NAME_BYTES: usize = 256;

/// One account.
#[derive(Debug, Clone)]
pub struct User {
    /// Login name; the token's `sub`.
    pub name: String,
    /// Parsed argon2 hash.
    pub hash: Arc<StoredHash>,
    /// Roles for the `roles` claim.
    pub roles: Vec<String>,
    /// Extra claims for the token (never a registered name).
    pub claims: Map<String, Value>,
    /// A disabled user gets the same answer as a wrong password.
    pub disabled: bool,
    /// Stable id (the `uid` claim), so renaming a user does not change who a token is about.
    pub id: Option<String>,
    /// Organisations the account may log in to (seed 003); empty = none.
    pub organisations: Vec<String>,
    /// Units within them; empty = no unit may be named (a login naming one is refused).
    pub units: Vec<String>,
    /// `true` for a service account (seed 003's access token identifier and pass code): its
    /// tokens carry `kind = "service"` and live `token.service_ttl`.
    pub service: bool,
    /// A service account's authentication code (seed 003), parsed argon2 hash: a login with
    /// only this code, no identifier, is a login as this account. `None` for people.
    pub authentication_code: Option<Arc<StoredHash>>,
    /// The account's TOTP secret (sealed) and last accepted step, when TOTP is on (people of
    /// the database store only).
    pub totp: Option<crate::login::totp::store::TotpState>,
}

/// All accounts: people by name, services by identifier.
#[derive(Debug, Clone, Default)]
pub struct Users {
    by_name: HashMap<String, User>,
    services: HashMap<String, User>,
    /// Service accounts with an authentication code and no pass code: reachable by their code
    /// only, never by identifier.
    code_only: HashMap<String, User>,
}

impl Users {
    /// People by name and service accounts by identifier, as a store read them (each map
    /// keyed by the account's exact name).
    pub fn from_accounts(by_name: HashMap<String, User>, services: HashMap<String, User>) -> Users {
        Users {
            by_name,
            services,
            code_only: HashMap::new(),
        }
    }

    /// Add service accounts that have an authentication code and no pass code (their `hash`
    /// is never checked): a login by identifier treats them as unknown.
    pub fn with_code_only_services(mut self, accounts: HashMap<String, User>) -> Users {
        self.code_only = accounts;
        self
    }

    /// The account called `name`, if any (exact match).
    pub fn get(&self, name: &str) -> Option<&User> {
        self.by_name.get(name)
    }

    /// The service account with `identifier`, if any (exact match).
    pub fn service(&self, identifier: &str) -> Option<&User> {
        self.services.get(identifier)
    }

    /// Every account, people first, each group sorted by name (for imports and listings).
    pub fn accounts(&self) -> Vec<&User> {
        let mut people: Vec<&User> = self.by_name.values().collect();
        let mut services: Vec<&User> = self.services.values().collect();
        people.sort_by(|a, b| a.name.cmp(&b.name));
        services.sort_by(|a, b| a.name.cmp(&b.name));
        people.extend(services);
        people
    }

    /// The service accounts that have an authentication code, sorted by identifier: a login by
    /// code is checked against each of them (the code names no account).
    pub fn with_authentication_code(&self) -> Vec<&User> {
        let mut found: Vec<&User> = self
            .services
            .values()
            .chain(self.code_only.values())
            .filter(|u| u.authentication_code.is_some())
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    /// Number of accounts, people and services.
    pub fn len(&self) -> usize {
        self.by_name.len() + self.services.len() + self.code_only.len()
    }

    /// True when no account is configured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A name as accounts are stored and looked up: Unicode NFC, so a name typed with a combining
/// accent (NFD, as macOS keyboards send it) finds the account written with the precomposed
/// letter, and two spellings of one name can never be two accounts.
pub fn canonical_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfc().collect()
}

/// Accounts that a person could not tell apart: names (of one kind: people, or service
/// accounts) that differ only by letter case, unless `allow_case_variants`, and two accounts
/// with one `id` (the `uid` claim). Names are NFC already, so names that differed only by
/// normalisation are the same name and refused as such by every loader. The message names
/// both accounts.
pub fn look_alike<'a>(
    accounts: impl IntoIterator<Item = &'a User>,
    allow_case_variants: bool,
) -> Result<(), String> {
    let mut folded: HashMap<(bool, String), &str> = HashMap::new();
    let mut ids: HashMap<&str, &str> = HashMap::new();
    for user in accounts {
        let key = (user.service, user.name.to_lowercase());
        if let Some(other) = folded.insert(key, &user.name) {
            if !allow_case_variants && other != user.name {
                return Err(format!(
                    "{:?} and {:?} differ only by letter case: a person cannot tell which is \
                     meant (rename one, or set users.allow_case_variants = true)",
                    other, user.name
                ));
            }
        }
        if let Some(id) = user.id.as_deref() {
            if let Some(other) = ids.insert(id, &user.name) {
                if other != user.name {
                    return Err(format!(
                        "{:?} and {:?} have the same id {id}",
                        other, user.name
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The rule for every name a request carries (user names, service identifiers, client ids,
/// organisations, units) and every account name: no control character (C0, DEL, C1). The
/// request parsers refuse such a name before the throttle, so a NUL never reaches a
/// database query (PostgreSQL refuses it, which once read as an outage).
pub fn holds_control_character(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A name that could never be sent in a `User-Name` header would be an account nobody can
/// use; refuse it at load time instead.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("name is empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("name is longer than 256 bytes");
    }
    if name.trim() != name {
        return Err("name starts or ends with whitespace, which HTTP headers cannot carry");
    }
    if holds_control_character(name) {
        return Err("name contains a control character");
    }
    Ok(())
}
