//! Project Wycheproof `json_web_signature_test.json`: every case must agree with its label,
//! except the ones listed in `SKIPPED`, each with its reason. A skipped case must really
//! disagree, so the list cannot silently grow stale.

use serde_json::{json, Value};
use watchword_verify::{KeyError, Validation, Verifier, VerifyError};

use crate::common::{b64_decode, vectors_file};

const UNSUPPORTED_ALG: &str = "valid under an algorithm outside the strict allow-list \
    (EdDSA, ES256, RS256, HS256): its key is not loaded, so every token is refused";

/// Skipped cases (tcId, why our answer differs from the label).
const SKIPPED: &[(u64, &str)] = &[
    // RS384 / RS512 keys (group kids RS384_2048, RS512_2048).
    (264, UNSUPPORTED_ALG),
    (265, UNSUPPORTED_ALG),
    (266, UNSUPPORTED_ALG),
    (267, UNSUPPORTED_ALG),
    (268, UNSUPPORTED_ALG),
    (269, UNSUPPORTED_ALG),
    (270, UNSUPPORTED_ALG),
    (271, UNSUPPORTED_ALG),
    // PS256 / PS384 / PS512 keys (RSASSA-PSS is not offered; the issuer signs RS256).
    (272, UNSUPPORTED_ALG),
    (273, UNSUPPORTED_ALG),
    (274, UNSUPPORTED_ALG),
    (275, UNSUPPORTED_ALG),
    (287, UNSUPPORTED_ALG),
    (288, UNSUPPORTED_ALG),
    (320, UNSUPPORTED_ALG),
    (321, UNSUPPORTED_ALG),
    (322, UNSUPPORTED_ALG),
    (323, UNSUPPORTED_ALG),
    (325, UNSUPPORTED_ALG),
    (326, UNSUPPORTED_ALG),
    (327, UNSUPPORTED_ALG),
    (328, UNSUPPORTED_ALG),
    // RFC 7520 Figure 20: the key's JWK says PS256, the header says PS384. A strict allow-list
    // (the key decides the algorithm) refuses the mismatch even though the file says valid.
    (346, "key JWK alg PS256, header alg PS384: alg mismatch, refused by the strict allow-list"),
    (350, "key JWK alg PS256, header alg PS384: alg mismatch, refused by the strict allow-list"),
    // RFC 7520 Figure 27: ES512 over P-521.
    (347, "ES512 / P-521 is out of scope for this verifier (no ES512)"),
    (351, "ES512 / P-521 is out of scope for this verifier (no ES512)"),
    // Inconsistent labels in the file.
    (367, "labelled invalid (\"invalidBase64Padding\") but byte-identical to tcId 357, labelled valid"),
    (370, "labelled invalid (\"invalidBase64PaddingInPayload\") but byte-identical to tcId 357, labelled valid"),
    (
        372,
        "labelled valid but the header segment contains '?', not a base64url character; strict \
         decoding refuses it, as the file itself expects for the same corruption in tcIds 361-364, 371",
    ),
    (
        373,
        "labelled valid but the payload segment contains '?', not a base64url character; strict \
         decoding refuses it, as the file itself expects for the same corruption in tcIds 361-364, 371",
    ),
];

/// The verifier a service would build for this group's key, or why there is none.
fn verifier_for(group: &Value) -> Result<Verifier, KeyError> {
    let jwk = if group["public"].is_object() {
        &group["public"]
    } else {
        &group["private"]
    };
    let jwks = json!({ "keys": [jwk] }).to_string();
    if jwk["kty"] == "oct" {
        // Symmetric keys are never taken from a JWKS...
        assert!(
            Verifier::from_jwks_json(&jwks, Validation::default()).is_err(),
            "oct key loaded from a JWKS"
        );
        // ...HS256 is configured as a secret, under the key id the issuer uses.
        let secret = b64_decode(jwk["k"].as_str().unwrap());
        let kid = jwk["kid"].as_str().unwrap();
        return match Verifier::from_hs256_secret_with_kid(&secret, kid, Validation::default()) {
            // One group's key is 32 zero bytes: refused as a secret (as it should be), and
            // loaded without the strength check so its vectors still test everything else.
            Err(KeyError::WeakSecret(_)) => {
                assert_eq!(secret, [0u8; 32], "a Wycheproof key refused as weak");
                Verifier::from_unchecked_hs256_secret_for_test_vectors(
                    &secret,
                    kid,
                    Validation::default(),
                )
            }
            other => other,
        };
    }
    Verifier::from_jwks_json(&jwks, Validation::default())
}

#[test]
fn wycheproof_json_web_signature() {
    let file = vectors_file("wycheproof/json_web_signature_test.json");
    let groups = file["testGroups"].as_array().expect("testGroups");
    let (mut agreed, mut skipped, mut total) = (0, 0, 0);
    let mut disagreements = Vec::new();
    let mut seen_skips = Vec::new();
    for group in groups {
        let verifier = verifier_for(group);
        for case in group["tests"].as_array().unwrap() {
            total += 1;
            let id = case["tcId"].as_u64().unwrap();
            let jws = case["jws"].as_str().unwrap();
            let expect_valid = match case["result"].as_str().unwrap() {
                "valid" => true,
                "invalid" => false,
                other => panic!("tcId {id}: unexpected result {other:?}"),
            };
            let outcome: Result<Vec<u8>, String> = match &verifier {
                Ok(v) => v
                    .verify_signature_only(jws)
                    .map_err(|e: VerifyError| e.reason().to_owned()),
                Err(e) => Err(format!("no verifier: {e}")),
            };
            let agrees = outcome.is_ok() == expect_valid;
            if let Some((_, why)) = SKIPPED.iter().find(|(s, _)| *s == id) {
                assert!(!agrees, "tcId {id} is skipped ({why}) but agrees with its label: remove it from SKIPPED");
                seen_skips.push(id);
                skipped += 1;
                continue;
            }
            if agrees {
                agreed += 1;
            } else {
                disagreements.push(format!(
                    "tcId {id} ({}): label {}, got {:?}",
                    case["comment"],
                    case["result"],
                    outcome.map(|_| "Ok")
                ));
            }
        }
    }
    println!("wycheproof: {agreed} agreed, {skipped} skipped, {total} total");
    assert!(
        disagreements.is_empty(),
        "disagreements with Wycheproof labels:\n{}",
        disagreements.join("\n")
    );
    assert_eq!(
        seen_skips.len(),
        SKIPPED.len(),
        "a skipped tcId is not in the file"
    );
    assert_eq!(agreed + skipped, total);
    assert!(
        total >= 400,
        "expected the full file (401 cases), got {total}"
    );
}
