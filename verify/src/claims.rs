//! The claim set shared by the issuer (login service) and every verifier.
//!
//! One type on both sides keeps the wire format in one place: what `/login` signs is exactly
//! what `watchword_verify` hands back to a sibling service.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Registered claim names (RFC 7519 §4.1) plus the ones watchword sets itself.
///
/// A user's extra claims may not use these names: an extra claim must never be able to
/// override who the token is about, who issued it or how long it lives.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "roles",
    "permissions",
    "org",
    "unit",
    "uid",
    "kind",
    "scope",
    "client_id",
];

/// True when an extra claim called `name` could be read as a [`RESERVED_CLAIMS`] name:
/// equal to one once surrounding whitespace is dropped and case is folded. Verifiers do not
/// all compare names exactly: Go's `encoding/json` matches object keys case-insensitively
/// (folding `ſ` to `s` and the Kelvin sign to `k` too) and lets the later key win, so an extra
/// `Sub` would become a golang-jwt verifier's `sub`. Folding here is Unicode upper- then
/// lowercase, which covers those and refuses a few more names than needed, never fewer.
pub fn is_reserved_claim(name: &str) -> bool {
    let folded: String = name
        .trim()
        .chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect();
    RESERVED_CLAIMS.contains(&folded.as_str())
}

/// The claims of a watchword token.
///
/// Times are NumericDate values (whole seconds since the Unix epoch). A float, a string or a
/// number outside `i64` in `exp`, `nbf` or `iat` fails to deserialize instead of being coerced,
/// and a claim given twice in the JSON is rejected rather than "last one wins".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the user name (or service identifier) the token was issued to.
    pub sub: String,
    /// Expiry; the token is refused from this second on (plus the verifier's leeway).
    pub exp: i64,
    /// Issuer, normally the login service's public URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audiences; serialized as a string when there is one, as an array when several.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "ser_audience",
        deserialize_with = "de_audience"
    )]
    pub aud: Vec<String>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id (a random UUID), so a sibling service can deny-list one token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Roles from the users file; sibling services authorise on these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Every other claim, as configured per user in the users file.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Claims {
    /// True when the token carries `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The granted OAuth scopes (the space-separated `scope` claim of a token from the token
    /// endpoint); none when the claim is absent or not a string.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.extra
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// True when `scope` is one of the granted scopes.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// True when the token grants `scope`: its `scope` claim lists it or, for a token issued
    /// without scopes (a login, not a down-scoped OAuth grant), its `permissions` do. The
    /// login service puts exactly the granted scopes in `permissions` of a scoped token, so
    /// both kinds answer alike.
    pub fn grants_scope(&self, scope: &str) -> bool {
        if self.extra.contains_key("scope") {
            return self.has_scope(scope);
        }
        self.extra
            .get("permissions")
            .and_then(Value::as_array)
            .is_some_and(|p| p.iter().any(|p| p.as_str() == Some(scope)))
    }

    /// The `client_id` claim (RFC 9068 access tokens), when present.
    pub fn client_id(&self) -> Option<&str> {
        self.extra.get("client_id").and_then(Value::as_str)
    }
}

fn ser_audience<S: Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
    match aud {
        [one] => s.serialize_str(one),
        many => many.serialize(s),
    }
}

fn de_audience<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(a) => vec![a],
        OneOrMany::Many(v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_registered_claims_are_rejected() {
        let json = r#"{"sub":"a","exp":10,"exp":99999999999}"#;
        assert!(serde_json::from_str::<Claims>(json).is_err());
        let json = r#"{"sub":"a","sub":"admin","exp":10}"#;
        assert!(serde_json::from_str::<Claims>(json).is_err());
    }

    #[test]
    fn non_integer_times_are_rejected() {
        for exp in ["1.5", "\"10\"", "1e30", "99999999999999999999999"] {
            let json = format!(r#"{{"sub":"a","exp":{exp}}}"#);
            assert!(
                serde_json::from_str::<Claims>(&json).is_err(),
                "exp = {exp}"
            );
        }
    }

    #[test]
    fn audience_is_string_or_list() {
        let c: Claims = serde_json::from_str(r#"{"sub":"a","exp":1,"aud":"x"}"#).unwrap();
        assert_eq!(c.aud, vec!["x"]);
        assert_eq!(serde_json::to_value(&c).unwrap()["aud"], "x");
        let c: Claims = serde_json::from_str(r#"{"sub":"a","exp":1,"aud":["x","y"]}"#).unwrap();
        assert_eq!(c.aud, vec!["x", "y"]);
    }

    #[test]
    fn scope_and_client_id_helpers() {
        let c: Claims = serde_json::from_str(
            r#"{"sub":"a","exp":1,"scope":"read_invoices  edit","client_id":"billing"}"#,
        )
        .unwrap();
        assert_eq!(c.scopes().collect::<Vec<_>>(), ["read_invoices", "edit"]);
        assert!(c.has_scope("edit") && !c.has_scope("read"));
        assert_eq!(c.client_id(), Some("billing"));
        let c: Claims = serde_json::from_str(r#"{"sub":"a","exp":1,"scope":7}"#).unwrap();
        assert_eq!(c.scopes().count(), 0);
        assert!(!c.grants_scope("7"));
        assert_eq!(c.client_id(), None);
    }

    #[test]
    fn reserved_names_are_found_whatever_their_case_and_spacing() {
        for name in [
            "sub",
            "Sub",
            "SUB",
            " exp",
            "exp\t",
            " Roles ",
            "iAt",
            "\u{17f}ub",
            "\u{212a}ind",
        ] {
            assert!(is_reserved_claim(name), "{name:?}");
        }
        for name in ["dept", "subject", "s ub", "", "role", "org_id"] {
            assert!(!is_reserved_claim(name), "{name:?}");
        }
    }

    #[test]
    fn extra_claims_round_trip() {
        let c: Claims = serde_json::from_str(r#"{"sub":"a","exp":1,"dept":"ops"}"#).unwrap();
        assert_eq!(c.extra["dept"], "ops");
        let back: Claims = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
