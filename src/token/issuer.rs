//! Issuing tokens: the claims of a successful login, signed with the active key.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use jsonwebtoken::Header;

use super::signing_key::SigningKey;
use crate::config::TokenSettings;
use crate::login::users::User;
use watchword_verify::{Claims, RESERVED_CLAIMS};

/// Signs tokens for logged-in users.
#[derive(Debug, Clone)]
pub struct Issuer {
    key: SigningKey,
    issuer: String,
    audience: Vec<String>,
    ttl: Duration,
    service_ttl: Duration,
    permissions: BTreeMap<String, Vec<String>>,
}

/// Where the login was made: the seed-003 organisation and unit, when given.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `org` claim.
    pub organisation: Option<String>,
    /// `unit` claim.
    pub unit: Option<String>,
}

/// Signing failed in the crypto backend (never expected with a key that passed loading).
#[derive(Debug, thiserror::Error)]
#[error("jsonwebtoken could not sign the claims")]
pub struct IssueError(#[from] jsonwebtoken::errors::Error);

impl Issuer {
    /// An issuer signing with `key` as configured by `[token]`.
    pub fn new(key: SigningKey, token: &TokenSettings) -> Issuer {
        Issuer {
            key,
            issuer: token.issuer.clone(),
            audience: token.audience.clone(),
            ttl: token.ttl,
            service_ttl: token.service_ttl,
            permissions: BTreeMap::new(),
        }
    }

    /// Map roles to the permissions tokens carry (`[permissions]`).
    pub fn with_permissions(mut self, permissions: BTreeMap<String, Vec<String>>) -> Issuer {
        self.permissions = permissions;
        self
    }

    /// The key tokens are signed with.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The `iss` value.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` values.
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// Token lifetime in seconds for `user` (`expires_in` of the answer).
    pub fn ttl_secs(&self, user: &User) -> u64 {
        if user.service {
            self.service_ttl.as_secs()
        } else {
            self.ttl.as_secs()
        }
    }

    /// The claims a token for `user` carries, issued at `now` (Unix seconds).
    pub fn claims_for(&self, user: &User, scope: &Scope, now: i64) -> Claims {
        let mut extra = user.claims.clone();
        extra.retain(|k, _| !RESERVED_CLAIMS.contains(&k.as_str()));
        let permissions: BTreeSet<&String> = user
            .roles
            .iter()
            .filter_map(|r| self.permissions.get(r))
            .flatten()
            .collect();
        if !permissions.is_empty() {
            extra.insert(
                "permissions".into(),
                Value::from(permissions.into_iter().cloned().collect::<Vec<_>>()),
            );
        }
        if let Some(org) = &scope.organisation {
            extra.insert("org".into(), Value::from(org.clone()));
        }
        if let Some(unit) = &scope.unit {
            extra.insert("unit".into(), Value::from(unit.clone()));
        }
        if let Some(id) = &user.id {
            extra.insert("uid".into(), Value::from(id.clone()));
        }
        if user.service {
            extra.insert("kind".into(), Value::from("service"));
        }
        Claims {
            sub: user.name.clone(),
            exp: now + self.ttl_secs(user) as i64,
            iss: Some(self.issuer.clone()),
            aud: self.audience.clone(),
            iat: Some(now),
            nbf: Some(now),
            jti: Some(uuid::Uuid::new_v4().to_string()),
            roles: user.roles.clone(),
            extra,
        }
    }

    /// Sign `claims` with the active key: header `typ: JWT`, `alg`, `kid`.
    pub fn sign(&self, claims: &Claims) -> Result<String, IssueError> {
        let mut header = Header::new(self.key.algorithm.jwt());
        header.kid = Some(self.key.kid.clone());
        Ok(jsonwebtoken::encode(
            &header,
            claims,
            self.key.encoding_key(),
        )?)
    }

    /// Claims and signature for `user`, now.
    pub fn issue(&self, user: &User, scope: &Scope) -> Result<String, IssueError> {
        self.sign(&self.claims_for(user, scope, chrono::Utc::now().timestamp()))
    }
}
