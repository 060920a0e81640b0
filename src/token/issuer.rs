//! Issuing tokens: the claims of a successful login, signed with the active key.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use jsonwebtoken::Header;

use super::settings::{TokenProfile, TokenSettings};
use super::signing_key::SigningKey;
use crate::login::users::User;
use watchword_verify::{is_reserved_claim, Claims};

/// Signs tokens for logged-in users.
#[derive(Debug, Clone)]
pub struct Issuer {
    key: SigningKey,
    issuer: String,
    audience: Vec<String>,
    ttl: Duration,
    service_ttl: Duration,
    profile: TokenProfile,
    client_id: String,
    permissions: BTreeMap<String, Vec<String>>,
}

/// How the login was made, beyond who logged in: the seed-003 organisation and unit, and for
/// the OAuth token endpoint the granted scopes and the client that authenticated.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `org` claim.
    pub organisation: Option<String>,
    /// `unit` claim.
    pub unit: Option<String>,
    /// `scope` claim: granted scopes, space-separated; `None` when none were requested.
    pub scope: Option<String>,
    /// The OAuth client (a service account) that authenticated itself on a password grant:
    /// the `client_id` of an RFC 9068 token.
    pub client_id: Option<String>,
    /// A one-time password was accepted with the password: `amr` is `["pwd", "otp"]`
    /// (RFC 8176), else `["pwd"]`, so a sibling service can ask for the second factor.
    pub otp: bool,
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
            profile: token.profile,
            client_id: token.client_id.clone(),
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

    /// The permissions `user`'s roles grant (`[permissions]`): the `permissions` claim, and the
    /// scopes the account may ask for on the token endpoint.
    pub fn permissions_of(&self, user: &User) -> BTreeSet<&str> {
        user.roles
            .iter()
            .filter_map(|r| self.permissions.get(r))
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// Every permission some role grants, sorted: discovery's `scopes_supported`.
    pub fn all_permissions(&self) -> BTreeSet<&str> {
        self.permissions
            .values()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// The token shape (`token.profile`).
    pub fn profile(&self) -> TokenProfile {
        self.profile
    }

    /// `token.client_id`: the `client_id` of RFC 9068 tokens issued with no OAuth client.
    pub fn default_client_id(&self) -> &str {
        &self.client_id
    }

    /// `token.issuer`.
    pub fn issuer_url(&self) -> &str {
        &self.issuer
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
    pub fn claims_for(&self, user: &User, context: &Context, now: i64) -> Claims {
        let mut extra = user.claims.clone();
        // Loading refuses such names already; this keeps any store from getting them signed.
        extra.retain(|k, _| !is_reserved_claim(k));
        // A token asked for with scopes carries only those (each one of the account's
        // permissions, checked before issuing): a down-scoped token must not open every
        // route that `require_permission` guards.
        let permissions = match &context.scope {
            Some(scope) => scope.split(' ').filter(|s| !s.is_empty()).collect(),
            None => self.permissions_of(user),
        };
        if !permissions.is_empty() {
            extra.insert(
                "permissions".into(),
                Value::from(permissions.into_iter().collect::<Vec<_>>()),
            );
        }
        if let Some(org) = &context.organisation {
            extra.insert("org".into(), Value::from(org.clone()));
        }
        if let Some(unit) = &context.unit {
            extra.insert("unit".into(), Value::from(unit.clone()));
        }
        if let Some(scope) = &context.scope {
            extra.insert("scope".into(), Value::from(scope.clone()));
        }
        if self.profile == TokenProfile::Rfc9068 {
            // RFC 9068 §2.2: the client the token was issued to. A service account is its own
            // client; a person's login names the client that authenticated, if any, else the
            // configured name of the login API.
            let client_id = match &context.client_id {
                Some(client) => client,
                None if user.service => &user.name,
                None => &self.client_id,
            };
            extra.insert("client_id".into(), Value::from(client_id.clone()));
        }
        let amr = if context.otp {
            vec!["pwd", "otp"]
        } else {
            vec!["pwd"]
        };
        extra.insert("amr".into(), Value::from(amr));
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

    /// Sign `claims` with the active key: header `typ` (`JWT`, or `at+jwt` for the RFC 9068
    /// profile), `alg`, `kid`.
    pub fn sign(&self, claims: &Claims) -> Result<String, IssueError> {
        let mut header = Header::new(self.key.algorithm.jwt());
        header.kid = Some(self.key.kid.clone());
        if self.profile == TokenProfile::Rfc9068 {
            header.typ = Some("at+jwt".into());
        }
        Ok(jsonwebtoken::encode(
            &header,
            claims,
            self.key.encoding_key(),
        )?)
    }

    /// Claims and signature for `user`, now.
    pub fn issue(&self, user: &User, context: &Context) -> Result<String, IssueError> {
        self.sign(&self.claims_for(user, context, chrono::Utc::now().timestamp()))
    }
}
