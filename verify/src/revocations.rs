//! Revoked tokens, as the login service publishes them at `/.well-known/revocations`, and
//! the one rule that decides whether a token is revoked ([`RevocationList::is_revoked`]).
//!
//! The login service's own `/verify` and `/introspect` and every [`Verifier`](crate::Verifier)
//! holding a list go through that one function, so no path can forget a kind of revocation.
//!
//! Two kinds of entry, both small and both dropped once no token they name can still be
//! valid:
//!
//! * a token's `jti`, until that token's `exp` (a logout, `/revoke`);
//! * a subject and a second T: every token of that `sub` issued at T or earlier (`iat <= T`,
//!   so a token issued in the same second as the revocation is refused too), kept for one
//!   access-token lifetime (`watchword users logout NAME`, a password change, a disabled or
//!   removed account).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::claims::Claims;

/// The revocation list: `{"tokens": {jti: exp}, "subjects": {sub: not_before}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    tokens: HashMap<String, i64>,
    subjects: HashMap<String, i64>,
}

/// The wire form, sorted so that one list is always the same bytes (and the same `ETag`).
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(default)]
    tokens: BTreeMap<String, i64>,
    #[serde(default)]
    subjects: BTreeMap<String, i64>,
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> RevocationList {
        RevocationList::default()
    }

    /// Revoke the token `jti` (whose `exp` is `exp`).
    pub fn revoke_token(&mut self, jti: impl Into<String>, exp: i64) {
        self.tokens.insert(jti.into(), exp);
    }

    /// Revoke every token of `sub` issued at `not_before` (Unix seconds) or earlier.
    pub fn revoke_subject(&mut self, sub: impl Into<String>, not_before: i64) {
        let entry = self.subjects.entry(sub.into()).or_insert(not_before);
        *entry = (*entry).max(not_before);
    }

    /// How many entries (tokens and subjects).
    pub fn len(&self) -> usize {
        self.tokens.len() + self.subjects.len()
    }

    /// True when nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The one rule: `claims` are revoked when their `jti` is listed, or their `sub` is listed
    /// with a second at or after their `iat` (a token without `iat` is revoked by any entry
    /// for its subject: when it was issued cannot be told).
    pub fn is_revoked(&self, claims: &Claims) -> bool {
        if self.is_empty() {
            return false;
        }
        if let Some(jti) = &claims.jti {
            if self.tokens.contains_key(jti) {
                return true;
            }
        }
        match self.subjects.get(&claims.sub) {
            Some(not_before) => claims.iat.is_none_or(|iat| iat <= *not_before),
            None => false,
        }
    }

    /// The published JSON (sorted, so the same list is always the same bytes).
    pub fn to_json(&self) -> String {
        let wire = Wire {
            tokens: self.tokens.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            subjects: self.subjects.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        };
        serde_json::to_string(&wire).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Parse the published JSON.
    pub fn from_json(text: &[u8]) -> Result<RevocationList, serde_json::Error> {
        let wire: Wire = serde_json::from_slice(text)?;
        Ok(RevocationList {
            tokens: wire.tokens.into_iter().collect(),
            subjects: wire.subjects.into_iter().collect(),
        })
    }
}

/// The revocation list, swapped whole (by [`Verifier::set_revocations`] or the poller, which
/// holds it weakly).
#[derive(Default)]
pub(crate) struct SharedRevocations(RwLock<Arc<RevocationList>>);

impl SharedRevocations {
    pub(crate) fn current(&self) -> Arc<RevocationList> {
        // A poisoned lock still holds a whole list (replace is one assignment).
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn replace(&self, list: RevocationList) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, jti: &str, iat: i64) -> Claims {
        serde_json::from_value(serde_json::json!({
            "sub": sub, "exp": iat + 60, "iat": iat, "jti": jti
        }))
        .unwrap()
    }

    #[test]
    fn tokens_and_subjects_are_revoked_by_one_rule() {
        let mut list = RevocationList::new();
        assert!(!list.is_revoked(&claims("a", "j1", 100)));
        list.revoke_token("j1", 160);
        list.revoke_subject("b", 200);
        assert!(list.is_revoked(&claims("a", "j1", 100)));
        assert!(!list.is_revoked(&claims("a", "j2", 100)));
        // The same second as the revocation: refused too; the next second: fine.
        assert!(list.is_revoked(&claims("b", "j3", 200)));
        assert!(list.is_revoked(&claims("b", "j3", 150)));
        assert!(!list.is_revoked(&claims("b", "j4", 201)));
        let back = RevocationList::from_json(list.to_json().as_bytes()).unwrap();
        assert_eq!(back, list);
        assert_eq!(
            list.to_json(),
            r#"{"tokens":{"j1":160},"subjects":{"b":200}}"#
        );
    }
}
