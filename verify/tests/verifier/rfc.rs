//! Published compact JWS vectors: RFC 7515 A.1–A.3, RFC 8037 A.4, RFC 7515 A.5.

use serde_json::{json, Value};
use watchword_verify::{Validation, Verifier, VerifyError};

use crate::common::vectors_file;

/// A second before the vectors' `exp` (2011-03-22): the only way their time checks can pass.
const VECTOR_NOW: i64 = 1_300_819_379;
const A1_PAYLOAD: &str =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";

fn vectors() -> Vec<Value> {
    vectors_file("rfc/jws_vectors.json")["vectors"]
        .as_array()
        .expect("vectors array")
        .clone()
}

fn verifier_for(key: &Value) -> Verifier {
    if key["kty"] == "oct" {
        let k = crate::common::b64_decode(key["k"].as_str().unwrap());
        Verifier::from_hs256_secret(&k, Validation::default()).unwrap()
    } else {
        Verifier::from_jwks_json(&json!({ "keys": [key] }).to_string(), Validation::default())
            .unwrap()
    }
}

/// Flip one character of the payload segment: the signature must then fail.
fn tamper(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = &mut parts[1];
    let last = payload.pop().unwrap();
    payload.push(if last == 'A' { 'B' } else { 'A' });
    parts.join(".")
}

#[test]
fn rfc_signed_vectors_verify() {
    let mut checked = 0;
    for v in vectors() {
        let source = v["source"].as_str().unwrap();
        let token = v["token"].as_str().unwrap();
        if v["alg"] == "none" {
            continue;
        }
        let verifier = verifier_for(&v["key"]);
        let payload = verifier
            .verify_signature_only(token)
            .unwrap_or_else(|e| panic!("{source}: signature must verify: {e}"));
        assert_eq!(tamper(token).len(), token.len());
        assert_eq!(
            verifier.verify_signature_only(&tamper(token)),
            Err(VerifyError::BadSignature),
            "{source}"
        );
        if v["alg"] == "EdDSA" {
            // RFC 8037 A.4: the payload is plain text, not a claim set.
            assert_eq!(payload, b"Example of Ed25519 signing", "{source}");
            assert!(
                matches!(verifier.verify(token), Err(VerifyError::Malformed(_))),
                "{source}"
            );
        } else {
            assert_eq!(payload, A1_PAYLOAD.as_bytes(), "{source}");
            // With time relaxed, the only complaint is the claim watchword requires and the
            // RFC example lacks: the signature and exp passed.
            assert_eq!(
                verifier.verify_at(token, VECTOR_NOW),
                Err(VerifyError::MissingClaim("sub")),
                "{source}"
            );
            assert_eq!(
                verifier.verify(token),
                Err(VerifyError::MissingClaim("sub")),
                "{source}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 4, "A.1, A.2, A.3 and A.4 must all be present");
}

#[test]
fn rfc_vectors_with_a_sub_pass_all_time_checks_only_at_their_time() {
    // The A.1 key, re-used to sign the A.1 claims plus `sub`: shows verify_at is what relaxes
    // time, and nothing else.
    let a1 = vectors()
        .into_iter()
        .find(|v| v["alg"] == "HS256")
        .expect("A.1");
    let k = crate::common::b64_decode(a1["key"]["k"].as_str().unwrap());
    let header = r#"{"typ":"JWT","alg":"HS256"}"#;
    let payload = r#"{"iss":"joe","exp":1300819380,"sub":"joe"}"#;
    let input = format!(
        "{}.{}",
        crate::common::b64(header),
        crate::common::b64(payload)
    );
    let token = format!(
        "{input}.{}",
        crate::common::b64(crate::common::hmac(&k, input.as_bytes()))
    );
    let verifier = Verifier::from_hs256_secret(&k, Validation::default()).unwrap();
    assert_eq!(verifier.verify_at(&token, VECTOR_NOW).unwrap().sub, "joe");
    assert_eq!(verifier.verify(&token), Err(VerifyError::Expired));
}

#[test]
fn rfc_unsecured_jws_is_rejected_by_every_verifier() {
    let all = vectors();
    let none = all
        .iter()
        .find(|v| v["alg"] == "none")
        .expect("A.5 present");
    let token = none["token"].as_str().unwrap();
    for v in all.iter().filter(|v| v["alg"] != "none") {
        let verifier = verifier_for(&v["key"]);
        assert_eq!(
            verifier.verify_signature_only(token),
            Err(VerifyError::AlgorithmNotAllowed)
        );
        assert_eq!(
            verifier.verify_at(token, VECTOR_NOW),
            Err(VerifyError::AlgorithmNotAllowed)
        );
    }
}
