//! The users file (TOML): people under `[[users]]`, services under `[[service_accounts]]`.
//!
//! Loaded and checked completely at start: a malformed hash, a duplicate name or an extra
//! claim that would override a registered one stops the start with the user named, instead
//! of surfacing as a failed login at three in the morning.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::account::{canonical_name, check_name, look_alike, User, Users};
use crate::login::password::StoredHash;
use watchword_verify::{is_reserved_claim, RESERVED_CLAIMS};

/// The demo users shipped in `config/users.toml` (user_test / password_test), compiled in so
/// that the service starts with no files. Demo only: a warning is logged when they are used.
pub const DEMO_USERS_TOML: &str = include_str!("../../../config/users.toml");

/// Why the users file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The file could not be read.
    #[error("users.file: cannot read {path}: {source}")]
    Read {
        /// The configured path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not TOML of the expected shape.
    #[error("users file {path}: {message}")]
    Syntax {
        /// The configured path.
        path: String,
        /// The parser's message (line and column included).
        message: String,
    },
    /// One user's entry is wrong.
    #[error("users file {path}: user {user:?}: {message}")]
    User {
        /// The configured path.
        path: String,
        /// The user's name as written.
        user: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    service_accounts: Vec<RawService>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    identifier: String,
    #[serde(default)]
    pass_code_hash: Option<String>,
    #[serde(default)]
    authentication_code_hash: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    claims: toml::Table,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    organisations: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    password_hash: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    claims: toml::Table,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    organisations: Vec<String>,
    #[serde(default)]
    units: Vec<String>,
}

/// Extra claims from TOML, refusing registered names.
fn extra_claims(table: toml::Table) -> Result<Map<String, Value>, String> {
    let mut claims = Map::new();
    for (k, v) in table {
        if is_reserved_claim(&k) {
            return Err(format!(
                "claim {k:?} is reserved and cannot be set per user (reserved: {}; compared \
                 ignoring case and surrounding whitespace, as some verifiers read names)",
                RESERVED_CLAIMS.join(", ")
            ));
        }
        let v = serde_json::to_value(v).map_err(|e| format!("claim {k:?}: {e}"))?;
        claims.insert(k, v);
    }
    Ok(claims)
}

impl Users {
    /// Read and check a users file.
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Read {
            path: shown.clone(),
            source,
        })?;
        Users::parse(&text, &shown)
    }

    /// Refuse accounts a person could not tell apart ([`look_alike`]): names that differ only
    /// by case (unless `allow_case_variants`, `users.allow_case_variants`) and repeated ids.
    /// `origin` names the file in the error.
    pub fn check_look_alikes(
        &self,
        allow_case_variants: bool,
        origin: &str,
    ) -> Result<(), UsersError> {
        look_alike(self.accounts(), allow_case_variants).map_err(|message| UsersError::User {
            path: origin.to_owned(),
            user: "two accounts".into(),
            message,
        })
    }

    /// The built-in demo users.
    pub fn demo() -> Users {
        Users::parse(DEMO_USERS_TOML, "(built-in demo users)")
            .expect("shipped demo users file is valid")
    }

    /// Check users given as TOML text; `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Users, UsersError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| UsersError::Syntax {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        let mut by_name = HashMap::with_capacity(raw.users.len());
        for u in raw.users {
            let user = account(u, false, origin)?;
            insert_unique(&mut by_name, user, origin)?;
        }
        let mut services = HashMap::with_capacity(raw.service_accounts.len());
        let mut code_only = Vec::new();
        for s in raw.service_accounts {
            let fail = |message: &str| UsersError::User {
                path: origin.to_owned(),
                user: format!("service account {}", s.identifier),
                message: message.to_owned(),
            };
            let code = match &s.authentication_code_hash {
                Some(phc) => {
                    Some(Arc::new(StoredHash::parse(phc).map_err(|e| {
                        fail(&format!("authentication_code_hash is {e}"))
                    })?))
                }
                None => None,
            };
            // Without a pass code the account logs in by its code only; the code's hash
            // stands in as `hash` but is never reached by identifier.
            let password_hash = match (s.pass_code_hash, &s.authentication_code_hash) {
                (Some(phc), _) => phc,
                (None, Some(code)) => {
                    code_only.push(canonical_name(&s.identifier));
                    code.clone()
                }
                (None, None) => {
                    return Err(fail(
                        "needs pass_code_hash (Identifier + Pass-Code logins, the OAuth client secret) \
                         or authentication_code_hash (logins by the code alone), or both",
                    ))
                }
            };
            // A service account is an account whose name is its identifier and whose
            // password is its pass code; it has no id and no units.
            let as_user = RawUser {
                name: s.identifier,
                password_hash,
                roles: s.roles,
                claims: s.claims,
                disabled: s.disabled,
                id: None,
                organisations: s.organisations,
                units: Vec::new(),
            };
            let mut service = account(as_user, true, origin)?;
            service.authentication_code = code;
            insert_unique(&mut services, service, origin)?;
        }
        let code_only = code_only
            .into_iter()
            .filter_map(|id| services.remove_entry(&id))
            .collect();
        Ok(Users::from_accounts(by_name, services).with_code_only_services(code_only))
    }
}

/// One checked account from its file entry.
fn account(mut u: RawUser, service: bool, origin: &str) -> Result<User, UsersError> {
    u.name = canonical_name(&u.name);
    let (what, hash_key) = if service {
        ("identifier", "pass_code_hash")
    } else {
        ("name", "password_hash")
    };
    let fail = |message: String| UsersError::User {
        path: origin.to_owned(),
        user: if service {
            format!("service account {}", u.name)
        } else {
            u.name.clone()
        },
        message,
    };
    check_name(&u.name).map_err(|m| fail(m.replace("name", what)))?;
    let hash =
        StoredHash::parse(&u.password_hash).map_err(|e| fail(format!("{hash_key} is {e}")))?;
    let claims = extra_claims(u.claims).map_err(fail)?;
    if let Some(id) = &u.id {
        uuid::Uuid::parse_str(id).map_err(|_| fail(format!("id {id:?} is not a UUID")))?;
    }
    Ok(User {
        name: u.name,
        hash: Arc::new(hash),
        roles: u.roles,
        claims,
        disabled: u.disabled,
        id: u.id,
        organisations: u.organisations,
        units: u.units,
        service,
        authentication_code: None,
        totp: None,
    })
}

fn insert_unique(
    map: &mut HashMap<String, User>,
    user: User,
    origin: &str,
) -> Result<(), UsersError> {
    if map.contains_key(&user.name) {
        return Err(UsersError::User {
            path: origin.to_owned(),
            user: user.name,
            message: "appears more than once".into(),
        });
    }
    map.insert(user.name.clone(), user);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$y/7/zoapHJbqw2c2w5QGbg";

    fn file(body: &str) -> String {
        body.replace("HASH", HASH)
    }

    #[test]
    fn loads_users_with_roles_and_claims() {
        let u = Users::parse(
            &file("[[users]]\nname='a'\npassword_hash='HASH'\nroles=['x']\nclaims={dept='ops'}\n"),
            "t",
        )
        .unwrap();
        let a = u.get("a").unwrap();
        assert_eq!(a.roles, vec!["x"]);
        assert_eq!(a.claims["dept"], "ops");
        assert!(!a.disabled);
    }

    #[test]
    fn errors_name_the_user() {
        let cases = [
            ("[[users]]\nname='bob'\npassword_hash='nope'\n", "password_hash"),
            ("[[users]]\nname='bob'\npassword_hash='HASH'\n[[users]]\nname='bob'\npassword_hash='HASH'\n", "more than once"),
            ("[[users]]\nname='bob'\npassword_hash='HASH'\nclaims={sub='admin'}\n", "reserved"),
            ("[[users]]\nname='bob'\npassword_hash='HASH'\nclaims={exp=1}\n", "reserved"),
            ("[[users]]\nname='bob'\npassword_hash='HASH'\nclaims={Sub='admin'}\n", "reserved"),
            ("[[users]]\nname='bob'\npassword_hash='HASH'\nclaims={' exp '=1}\n", "reserved"),
        ];
        for (text, needle) in cases {
            let err = Users::parse(&file(text), "t").unwrap_err().to_string();
            assert!(err.contains("\"bob\"") && err.contains(needle), "{err}");
        }
    }

    #[test]
    fn service_accounts_may_have_an_authentication_code() {
        let u = Users::parse(
            &file("[[service_accounts]]\nidentifier='svc'\npass_code_hash='HASH'\nauthentication_code_hash='HASH'\n\
                   [[service_accounts]]\nidentifier='plain'\npass_code_hash='HASH'\n"),
            "t",
        )
        .unwrap();
        assert!(u.service("svc").unwrap().authentication_code.is_some());
        assert!(u.service("plain").unwrap().authentication_code.is_none());
        let with: Vec<&str> = u
            .with_authentication_code()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(with, ["svc"]);
        // A code alone is enough; such an account is not reachable by identifier.
        let u = Users::parse(
            &file("[[service_accounts]]\nidentifier='key-only'\nauthentication_code_hash='HASH'\n"),
            "t",
        )
        .unwrap();
        assert!(u.service("key-only").is_none());
        assert_eq!(u.with_authentication_code()[0].name, "key-only");
        assert_eq!(u.len(), 1);
        let err = Users::parse(&file("[[service_accounts]]\nidentifier='none'\n"), "t")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pass_code_hash") && err.contains("authentication_code_hash"),
            "{err}"
        );
        let err = Users::parse(
            &file("[[service_accounts]]\nidentifier='svc'\npass_code_hash='HASH'\nauthentication_code_hash='plain'\n"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("service account svc") && err.contains("authentication_code_hash is"),
            "{err}"
        );
    }

    #[test]
    fn demo_users_parse() {
        assert!(Users::demo().get("user_test").is_some());
    }
}
