//! Issuing tokens: the claims of a successful login, signed with the active key.

use std::time::Duration;

use jsonwebtoken::Header;

use crate::claims::Claims;
use crate::config::TokenSettings;
use crate::keys::SigningKey;
use crate::users::User;

/// Signs tokens for logged-in users.
#[derive(Debug, Clone)]
pub struct Issuer {
    key: SigningKey,
    issuer: String,
    audience: Vec<String>,
    ttl: Duration,
}

/// Signing failed in the crypto backend (never expected with a key that passed loading).
#[derive(Debug, thiserror::Error)]
#[error("token signing failed: {0}")]
pub struct IssueError(#[from] jsonwebtoken::errors::Error);

impl Issuer {
    /// An issuer signing with `key` as configured by `[token]`.
    pub fn new(key: SigningKey, token: &TokenSettings) -> Issuer {
        Issuer { key, issuer: token.issuer.clone(), audience: token.audience.clone(), ttl: token.ttl }
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

    /// Token lifetime in seconds (`expires_in` of the answer).
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// The claims a token for `user` carries, issued at `now` (Unix seconds).
    pub fn claims_for(&self, user: &User, now: i64) -> Claims {
        let mut extra = user.claims.clone();
        extra.retain(|k, _| !crate::claims::RESERVED_CLAIMS.contains(&k.as_str()));
        Claims {
            sub: user.name.clone(),
            exp: now + self.ttl.as_secs() as i64,
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
        Ok(jsonwebtoken::encode(&header, claims, self.key.encoding_key())?)
    }

    /// Claims and signature for `user`, now.
    pub fn issue(&self, user: &User) -> Result<String, IssueError> {
        self.sign(&self.claims_for(user, chrono::Utc::now().timestamp()))
    }
}

