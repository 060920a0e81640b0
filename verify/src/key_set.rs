//! The key set: public keys (or one HS256 secret) parsed once, looked up by `kid`.
//!
//! Every key carries exactly one algorithm, decided by the key itself (Ed25519 → EdDSA,
//! P-256 → ES256, RSA → RS256, secret → HS256); the token's `alg` header only has to agree.
//! Keys are parsed into aws-lc objects at load time so verifying a token does no key parsing.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    ParsedPublicKey, RsaPublicKeyComponents, ECDSA_P256_SHA256_FIXED, ED25519,
    RSA_PKCS1_2048_8192_SHA256,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;

use crate::error::KeyError;
use crate::secret_strength::{check_hs256_secret, WeakSecret, MIN_HS256_SECRET_BYTES};

const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

/// Algorithms a key can have. There is deliberately no way to add others at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    EdDSA,
    ES256,
    RS256,
    HS256,
}

impl Alg {
    /// The `alg` header value; exact, case-sensitive match (RFC 7515 §4.1.1).
    pub(crate) fn from_header(alg: &str) -> Option<Alg> {
        match alg {
            "EdDSA" => Some(Alg::EdDSA),
            "ES256" => Some(Alg::ES256),
            "RS256" => Some(Alg::RS256),
            "HS256" => Some(Alg::HS256),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Alg::EdDSA => "EdDSA",
            Alg::ES256 => "ES256",
            Alg::RS256 => "RS256",
            Alg::HS256 => "HS256",
        }
    }

    /// Signature length when the algorithm fixes it (RSA's depends on the modulus).
    pub(crate) fn fixed_signature_len(self) -> Option<usize> {
        match self {
            Alg::EdDSA | Alg::ES256 => Some(64),
            Alg::HS256 => Some(32),
            Alg::RS256 => None,
        }
    }
}

enum Material {
    Public(ParsedPublicKey),
    /// Boxed: an HMAC key holds precomputed state of over a kilobyte.
    Hmac(Box<hmac::Key>),
}

/// One parsed key and its single algorithm.
pub(crate) struct VerifyKey {
    pub(crate) alg: Alg,
    material: Material,
}

impl VerifyKey {
    /// Constant-time for HS256 (`hmac::verify`); aws-lc for the public-key algorithms.
    pub(crate) fn verify(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Public(key) => key.verify_sig(signing_input, signature).is_ok(),
            Material::Hmac(key) => hmac::verify(key, signing_input, signature).is_ok(),
        }
    }
}

/// The key set a verifier currently uses: readers clone the `Arc` and never wait on a
/// refresh, which swaps the whole set at once.
pub(crate) struct SharedKeys(RwLock<Arc<KeySet>>);

impl SharedKeys {
    pub(crate) fn new(keys: KeySet) -> SharedKeys {
        SharedKeys(RwLock::new(Arc::new(keys)))
    }

    /// A poisoned lock still holds a complete set (a swap is one assignment).
    pub(crate) fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    #[cfg(feature = "remote-jwks")]
    pub(crate) fn replace(&self, keys: KeySet) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
    }
}

/// Keys by `kid`. The map is the only thing a `kid` is ever used for.
pub(crate) struct KeySet {
    keys: Vec<VerifyKey>,
    by_kid: HashMap<String, usize>,
}

impl KeySet {
    fn new() -> KeySet {
        KeySet {
            keys: Vec::new(),
            by_kid: HashMap::new(),
        }
    }

    /// Adds `key` under `kid`; a second key with the same `kid` is refused (the first stays),
    /// since which of the two a token meant would be a guess.
    fn insert(&mut self, kid: String, key: VerifyKey) -> Result<(), String> {
        if self.by_kid.contains_key(&kid) {
            return Err(format!("kid {kid:?}: a key with this kid came earlier"));
        }
        self.by_kid.insert(kid, self.keys.len());
        self.keys.push(key);
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&VerifyKey> {
        self.by_kid.get(kid).and_then(|&i| self.keys.get(i))
    }

    /// The key for a token without `kid`: only when there is no choice to make.
    pub(crate) fn sole(&self) -> Option<&VerifyKey> {
        match self.keys.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    pub(crate) fn kids(&self) -> impl Iterator<Item = &str> {
        self.by_kid.keys().map(String::as_str)
    }

    /// Parse a JWK Set document (`{"keys":[…]}`).
    pub(crate) fn from_jwks_json(text: &str) -> Result<KeySet, KeyError> {
        let doc: Value = serde_json::from_str(text).map_err(KeyError::Json)?;
        KeySet::from_jwks_value(&doc)
    }

    /// Load every usable key of a JWK Set; skip (and log at debug) the others. Fails only when
    /// nothing usable remains, so one exotic key published next to ours does not break us.
    pub(crate) fn from_jwks_value(doc: &Value) -> Result<KeySet, KeyError> {
        let keys = doc
            .as_object()
            .and_then(|o| o.get("keys"))
            .and_then(Value::as_array)
            .ok_or(KeyError::NotAJwkSet)?;
        KeySet::from_jwks(keys.iter())
    }

    pub(crate) fn from_jwks<'a>(jwks: impl Iterator<Item = &'a Value>) -> Result<KeySet, KeyError> {
        let mut set = KeySet::new();
        let mut skipped = Vec::new();
        for (i, jwk) in jwks.enumerate() {
            let result = parse_jwk(jwk).and_then(|(kid, key)| set.insert(kid, key));
            if let Err(why) = result {
                log::debug!("JWKS key #{i} not loaded: {why}");
                skipped.push(format!("key #{i}: {why}"));
            }
        }
        if set.keys.is_empty() {
            return Err(KeyError::NoUsableKey(skipped));
        }
        Ok(set)
    }

    /// One public key from PEM, stored under `kid` or, by default, its RFC 7638 thumbprint
    /// (what watchword's issuer puts in `kid`).
    pub(crate) fn from_public_pem(pem: &[u8], kid: Option<&str>) -> Result<KeySet, KeyError> {
        let der = pem_public_key_der(pem)?;
        let (key, thumbprint) = parse_public_der(&der)?;
        let mut set = KeySet::new();
        let kid = match kid {
            Some(kid) => checked_kid(kid)?,
            None => thumbprint,
        };
        set.insert(kid, key)
            .map_err(|_| KeyError::InvalidKid("duplicate"))?;
        Ok(set)
    }

    /// One HS256 secret, stored under `kid` or, by default, the RFC 7638 thumbprint of its
    /// `oct` JWK (what watchword's issuer puts in `kid`).
    pub(crate) fn from_hs256_secret(secret: &[u8], kid: Option<&str>) -> Result<KeySet, KeyError> {
        check_hs256_secret(secret).map_err(|weak| match weak {
            WeakSecret::TooShort(len) => KeyError::SecretTooShort(len),
            weak => KeyError::WeakSecret(weak),
        })?;
        KeySet::from_any_hs256_secret(secret, kid)
    }

    /// [`KeySet::from_hs256_secret`] with the length check only, for published test vectors.
    pub(crate) fn from_any_hs256_secret(
        secret: &[u8],
        kid: Option<&str>,
    ) -> Result<KeySet, KeyError> {
        if secret.len() < MIN_HS256_SECRET_BYTES {
            return Err(KeyError::SecretTooShort(secret.len()));
        }
        let kid = match kid {
            Some(kid) => checked_kid(kid)?,
            None => thumbprint(&format!(
                r#"{{"k":"{}","kty":"oct"}}"#,
                URL_SAFE_NO_PAD.encode(secret)
            )),
        };
        let key = VerifyKey {
            alg: Alg::HS256,
            material: Material::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))),
        };
        let mut set = KeySet::new();
        set.insert(kid, key)
            .map_err(|_| KeyError::InvalidKid("duplicate"))?;
        Ok(set)
    }
}

fn checked_kid(kid: &str) -> Result<String, KeyError> {
    if kid.is_empty() {
        return Err(KeyError::InvalidKid("empty"));
    }
    Ok(kid.to_owned())
}

/// RFC 7638: SHA-256 of the canonical JSON of the required members, base64url.
fn thumbprint(canonical_json: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical_json.as_bytes()))
}

fn b64(
    jwk: &serde_json::Map<String, Value>,
    member: &'static str,
) -> Result<(String, Vec<u8>), String> {
    let text = match jwk.get(member) {
        Some(Value::String(s)) => s,
        Some(_) => return Err(format!("{member} is not a string")),
        None => return Err(format!("{member} is missing")),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| format!("{member} is not base64url"))?;
    Ok((text.clone(), bytes))
}

fn str_member<'a>(
    jwk: &'a serde_json::Map<String, Value>,
    member: &'static str,
) -> Result<Option<&'a str>, String> {
    match jwk.get(member) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{member} is not a string")),
    }
}

fn strip_leading_zeros(mut b: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = b {
        b = rest;
    }
    b
}

fn bit_len(be: &[u8]) -> usize {
    match be.first() {
        Some(&first) => (be.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

/// One JWK → (kid, key), or why it is not loaded.
fn parse_jwk(jwk: &Value) -> Result<(String, VerifyKey), String> {
    let jwk = jwk.as_object().ok_or("not a JSON object")?;
    let kid = str_member(jwk, "kid")?;
    let named = |why: String| match kid {
        Some(kid) => format!("kid {kid:?}: {why}"),
        None => why,
    };
    let (key, thumbprint) = parse_jwk_key(jwk).map_err(named)?;
    let kid = match kid {
        Some("") => return Err("kid is empty".into()),
        Some(kid) => kid.to_owned(),
        // Documented: a key without kid is stored under its RFC 7638 thumbprint.
        None => thumbprint,
    };
    Ok((kid, key))
}

fn parse_jwk_key(jwk: &serde_json::Map<String, Value>) -> Result<(VerifyKey, String), String> {
    if let Some(usage) = jwk.get("use") {
        if usage.as_str() != Some("sig") {
            return Err(format!("use is {usage}, not \"sig\""));
        }
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verify {
            return Err("key_ops does not include \"verify\"".into());
        }
    }
    let kty = str_member(jwk, "kty")?.ok_or("kty is missing")?;
    let (alg, key, thumbprint) = match kty {
        "OKP" => {
            let crv = str_member(jwk, "crv")?;
            if crv != Some("Ed25519") {
                return Err(format!("OKP curve {crv:?} is not supported (only Ed25519)"));
            }
            let (x_text, x) = b64(jwk, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 x is not 32 bytes".into());
            }
            let key = ParsedPublicKey::new(&ED25519, &x)
                .map_err(|e| format!("Ed25519 key rejected: {e}"))?;
            let tp = thumbprint(&format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{x_text}"}}"#
            ));
            (Alg::EdDSA, key, tp)
        }
        "EC" => {
            let crv = str_member(jwk, "crv")?;
            if crv != Some("P-256") {
                return Err(format!("EC curve {crv:?} is not supported (only P-256)"));
            }
            let (x_text, x) = b64(jwk, "x")?;
            let (y_text, y) = b64(jwk, "y")?;
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 x and y must be 32 bytes each".into());
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                .map_err(|e| format!("P-256 key rejected: {e}"))?;
            let tp = thumbprint(&format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{x_text}","y":"{y_text}"}}"#
            ));
            (Alg::ES256, key, tp)
        }
        "RSA" => {
            let (n_text, n) = b64(jwk, "n")?;
            let (e_text, e) = b64(jwk, "e")?;
            let key = rsa_key(strip_leading_zeros(&n), strip_leading_zeros(&e))?;
            let tp = thumbprint(&format!(r#"{{"e":"{e_text}","kty":"RSA","n":"{n_text}"}}"#));
            (Alg::RS256, key, tp)
        }
        "oct" => {
            return Err(
                "symmetric (oct) keys are never loaded from a JWKS; use from_hs256_secret".into(),
            )
        }
        other => return Err(format!("kty {other:?} is not supported")),
    };
    if let Some(declared) = jwk.get("alg") {
        if declared.as_str() != Some(alg.as_str()) {
            return Err(format!(
                "alg is {declared}, but this key type is only used with {}",
                alg.as_str()
            ));
        }
    }
    Ok((
        VerifyKey {
            alg,
            material: Material::Public(key),
        },
        thumbprint,
    ))
}

fn rsa_key(n: &[u8], e: &[u8]) -> Result<ParsedPublicKey, String> {
    let bits = bit_len(n);
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(format!(
            "RSA modulus of {bits} bits (2048 to 8192 accepted)"
        ));
    }
    if e.is_empty() || e.len() > 4 || e.last().is_some_and(|b| b & 1 == 0) {
        return Err("RSA exponent is not a small odd number".into());
    }
    RsaPublicKeyComponents { n, e }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .map_err(|e| format!("RSA key rejected: {e}"))
}

/// The DER of the first `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1) block.
fn pem_public_key_der(pem: &[u8]) -> Result<Vec<u8>, KeyError> {
    let text = std::str::from_utf8(pem).map_err(|_| KeyError::Pem("not a PEM text file"))?;
    let begin = text
        .find("-----BEGIN ")
        .ok_or(KeyError::Pem("no -----BEGIN line"))?;
    let after = &text[begin + "-----BEGIN ".len()..];
    let label_end = after
        .find("-----")
        .ok_or(KeyError::Pem("unterminated BEGIN line"))?;
    let label = &after[..label_end];
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {}
        l if l.contains("PRIVATE KEY") => {
            return Err(KeyError::Pem(
                "this is a private key; give the verifier the public key only",
            ));
        }
        "CERTIFICATE" => {
            return Err(KeyError::Pem(
                "certificates are not supported; extract the public key",
            ))
        }
        _ => return Err(KeyError::Pem("expected a PUBLIC KEY block")),
    }
    let body_and_rest = &after[label_end + "-----".len()..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body_and_rest
        .find(&end_marker)
        .ok_or(KeyError::Pem("no matching -----END line"))?;
    let body: String = body_and_rest[..body_end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(body)
        .map_err(|_| KeyError::Pem("PEM body is not base64"))
}

const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const P256_SPKI_PREFIX: [u8; 27] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
];

/// Detect the key type from the key itself: Ed25519, then P-256, then RSA.
fn parse_public_der(der: &[u8]) -> Result<(VerifyKey, String), KeyError> {
    if let Some(x) = der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
        let key =
            ParsedPublicKey::new(&ED25519, x).map_err(|_| KeyError::Pem("Ed25519 key rejected"))?;
        let x = URL_SAFE_NO_PAD.encode(x);
        let tp = thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
        return Ok((
            VerifyKey {
                alg: Alg::EdDSA,
                material: Material::Public(key),
            },
            tp,
        ));
    }
    if ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, der).is_ok() {
        // Uncompressed point: 0x04 || x || y after the fixed SPKI prefix.
        let point = der
            .strip_prefix(&P256_SPKI_PREFIX[..])
            .filter(|xy| xy.len() == 64)
            .ok_or(KeyError::Pem(
                "compressed or non-canonical P-256 keys are not supported",
            ))?;
        let (x, y) = point.split_at(32);
        let mut uncompressed = Vec::with_capacity(65);
        uncompressed.push(4);
        uncompressed.extend_from_slice(point);
        let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &uncompressed)
            .map_err(|_| KeyError::Pem("P-256 key rejected"))?;
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        let tp = thumbprint(&format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
        ));
        return Ok((
            VerifyKey {
                alg: Alg::ES256,
                material: Material::Public(key),
            },
            tp,
        ));
    }
    if let Ok(rsa) = aws_lc_rs::rsa::PublicKey::from_der(der) {
        let parts = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(&rsa);
        let (n, e) = (strip_leading_zeros(&parts.n), strip_leading_zeros(&parts.e));
        let key =
            rsa_key(n, e).map_err(|_| KeyError::Pem("RSA keys must have 2048 to 8192 bits"))?;
        let (n, e) = (URL_SAFE_NO_PAD.encode(n), URL_SAFE_NO_PAD.encode(e));
        let tp = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
        return Ok((
            VerifyKey {
                alg: Alg::RS256,
                material: Material::Public(key),
            },
            tp,
        ));
    }
    Err(KeyError::Pem(
        "unsupported key type (Ed25519, P-256 or RSA of 2048 to 8192 bits)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_length() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[0x80, 0]), 16);
        assert_eq!(bit_len(&[0x7f, 0]), 15);
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let (_, tp) = parse_jwk_key(jwk.as_object().unwrap()).unwrap();
        assert_eq!(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn junk_pem_is_refused_without_panic() {
        for pem in [
            &b""[..],
            b"-----BEGIN PUBLIC KEY-----",
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            b"\xff\xfe",
            b"-----BEGIN \xc3\xa9-----",
        ] {
            assert!(KeySet::from_public_pem(pem, None).is_err());
        }
    }
}
