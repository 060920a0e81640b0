//! Which JWKS entries are loaded: only signature keys of a supported type whose declared
//! `alg` (if any) is the one their type implies.

use serde_json::{json, Value};
use watchword_verify::{KeyError, Validation, Verifier, VerifyError};

use crate::common::*;

fn jwk(key: &TestKey) -> Value {
    serde_json::to_value(key.jwk()).unwrap()
}

fn edit(mut v: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    f(v.as_object_mut().unwrap());
    v
}

fn load(keys: Vec<Value>) -> Result<Verifier, KeyError> {
    Verifier::from_jwks_json(&json!({ "keys": keys }).to_string(), validation())
}

/// `bad` is skipped: alone it gives NoUsableKey; next to a good key only the good key loads.
fn assert_skipped(bad: Value, why: &str) {
    assert!(
        matches!(load(vec![bad.clone()]), Err(KeyError::NoUsableKey(_))),
        "{why}: loaded alone"
    );
    let v = load(vec![bad, jwk(ed())]).unwrap_or_else(|e| panic!("{why}: {e}"));
    assert_eq!(v.key_count(), 1, "{why}");
    assert!(v.verify(&ed().token(&claims())).is_ok(), "{why}");
}

#[test]
fn non_signature_keys_are_not_loaded() {
    let ec_key = || jwk(ec());
    assert_skipped(
        edit(ec_key(), |m| drop(m.insert("use".into(), json!("enc")))),
        "use: enc",
    );
    assert_skipped(
        edit(ec_key(), |m| drop(m.insert("use".into(), json!(["sig"])))),
        "use not a string",
    );
    assert_skipped(
        edit(ec_key(), |m| {
            drop(m.insert("key_ops".into(), json!(["encrypt"])))
        }),
        "key_ops: encrypt",
    );
    assert_skipped(
        edit(ec_key(), |m| {
            drop(m.insert("key_ops".into(), json!("verify")))
        }),
        "key_ops not an array",
    );
    let ok = edit(ec_key(), |m| {
        m.remove("use");
        m.insert("key_ops".into(), json!(["verify"]));
    });
    assert_eq!(
        load(vec![ok]).unwrap().key_count(),
        1,
        "key_ops: [verify] loads"
    );
}

#[test]
fn symmetric_keys_are_never_loaded_from_a_jwks() {
    let oct =
        json!({"kty": "oct", "kid": "hs-1", "alg": "HS256", "use": "sig", "k": b64([9u8; 32])});
    assert_skipped(oct, "oct key");
    // And a token using that secret gets nowhere near a MAC check.
    let v = load(vec![jwk(ed())]).unwrap();
    let header = json!({"alg": "HS256", "kid": "hs-1"}).to_string();
    let input = format!("{}.{}", b64(&header), b64(claims().to_string()));
    let token = format!("{input}.{}", b64(hmac(&[9u8; 32], input.as_bytes())));
    assert_eq!(v.verify(&token), Err(VerifyError::UnknownKey));
}

#[test]
fn keys_whose_alg_disagrees_with_their_type_are_not_loaded() {
    assert_skipped(
        edit(jwk(rsa()), |m| drop(m.insert("alg".into(), json!("PS256")))),
        "RSA with PS256",
    );
    assert_skipped(
        edit(jwk(rsa()), |m| drop(m.insert("alg".into(), json!("RS512")))),
        "RSA with RS512",
    );
    assert_skipped(
        edit(jwk(ec()), |m| drop(m.insert("alg".into(), json!("ES384")))),
        "P-256 with ES384",
    );
    assert_skipped(
        edit(jwk(ec()), |m| drop(m.insert("alg".into(), json!("HS256")))),
        "P-256 with HS256",
    );
    assert_skipped(
        edit(jwk(ed()), |m| drop(m.insert("alg".into(), json!("ES256")))),
        "Ed25519 with ES256",
    );
    assert_skipped(
        edit(jwk(ed()), |m| drop(m.insert("alg".into(), json!(null)))),
        "alg null",
    );
    // Without alg the type decides.
    let no_alg = edit(jwk(rsa()), |m| drop(m.remove("alg")));
    assert!(load(vec![no_alg])
        .unwrap()
        .verify(&rsa().token(&claims()))
        .is_ok());
}

#[test]
fn unsupported_or_broken_keys_are_skipped_not_fatal() {
    let broken = vec![
        json!({"kty": "EC", "crv": "P-384", "kid": "p384", "x": b64([1u8; 48]), "y": b64([1u8; 48])}),
        json!({"kty": "OKP", "crv": "X25519", "kid": "x", "x": b64([1u8; 32])}),
        json!({"kty": "OKP", "crv": "Ed448", "kid": "x", "x": b64([1u8; 57])}),
        json!({"kty": "EC", "crv": "P-256", "kid": "off-curve", "x": b64([1u8; 32]), "y": b64([2u8; 32])}),
        json!({"kty": "EC", "crv": "P-256", "kid": "short", "x": b64([1u8; 31]), "y": b64([2u8; 32])}),
        json!({"kty": "RSA", "kid": "rsa-1024", "n": b64([0xc1u8; 128]), "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "no-e", "n": b64([0xc1u8; 256])}),
        json!({"kty": "RSA", "kid": "padded", "n": "AA==", "e": "AQAB"}),
        json!({"kty": "PQ", "kid": "future"}),
        json!({"kid": "no-kty"}),
        json!("not an object"),
        json!({"kty": "OKP", "crv": "Ed25519", "kid": 5, "x": b64([1u8; 32])}),
    ];
    for bad in &broken {
        assert_skipped(bad.clone(), &bad.to_string());
    }
    let mut all = broken.clone();
    all.push(jwk(rsa()));
    let v = load(all).unwrap();
    assert_eq!(v.key_count(), 1);
    assert!(v.verify(&rsa().token(&claims())).is_ok());
    // The error names why each key was skipped.
    let err = load(broken).unwrap_err().to_string();
    assert!(err.contains("P-384") && err.contains("1024 bits"), "{err}");
}

#[test]
fn keys_without_kid_are_stored_under_their_thumbprint() {
    let keys = vec![
        edit(jwk(ed()), |m| drop(m.remove("kid"))),
        edit(jwk(ec()), |m| drop(m.remove("kid"))),
    ];
    let v = load(keys).unwrap();
    assert_eq!(v.key_count(), 2);
    for key in [ed(), ec()] {
        let tp = key
            .jwk()
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        let mut header = jsonwebtoken::Header::new(key.alg);
        header.kid = Some(tp);
        let token = jsonwebtoken::encode(&header, &claims(), &key.encoding).unwrap();
        assert!(v.verify(&token).is_ok(), "{}", key.alg_name());
        // No kid, two keys: no guessing.
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(key.alg),
            &claims(),
            &key.encoding,
        )
        .unwrap();
        assert_eq!(v.verify(&token), Err(VerifyError::UnknownKey));
    }
}

#[test]
fn duplicate_kids_keep_the_first_key() {
    let impostor = edit(jwk(attacker_ed()), |m| {
        drop(m.insert("kid".into(), json!("ed-1")))
    });
    let v = load(vec![jwk(ed()), impostor]).unwrap();
    assert_eq!(v.key_count(), 1);
    assert!(v.verify(&ed().token(&claims())).is_ok());
    let header = ed().header();
    let forged = attacker_ed().sign_parts(&header, claims().to_string().as_bytes());
    assert_eq!(v.verify(&forged), Err(VerifyError::BadSignature));
}

#[test]
fn single_key_set_accepts_tokens_without_kid() {
    let v = Verifier::from_jwks_json(
        &json!({"keys": [jwk(ec())]}).to_string(),
        Validation::default(),
    )
    .unwrap();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(ec().alg),
        &claims(),
        &ec().encoding,
    )
    .unwrap();
    assert!(v.verify(&token).is_ok());
}
