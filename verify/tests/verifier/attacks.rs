//! Known attacks on JWT verifiers, each answered with one specific `VerifyError`.

use std::net::TcpListener;

use serde_json::{json, Value};
use watchword_verify::{Validation, Verifier, VerifyError};

use crate::common::*;

fn payload(claims: &Value) -> Vec<u8> {
    claims.to_string().into_bytes()
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

/// Replace the payload segment of `token`, keeping its header and signature.
fn swap_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], b64(claims.to_string()), parts[2])
}

#[test]
fn valid_tokens_of_every_key_pass() {
    let v = verifier();
    for key in [ed(), ec(), rsa()] {
        let claims = v
            .verify(&key.token(&claims()))
            .unwrap_or_else(|e| panic!("{}: {e}", key.kid));
        assert_eq!(claims.sub, "alice");
    }
}

#[test]
fn alg_none_in_any_spelling() {
    let v = verifier();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": "ed-1"}).to_string();
        let unsigned = format!("{}.{}.", b64(&header), b64(payload(&claims())));
        assert_eq!(
            v.verify(&unsigned),
            Err(VerifyError::AlgorithmNotAllowed),
            "{alg}"
        );
        // Without kid too, and against a single-key verifier.
        let header = json!({"alg": alg}).to_string();
        let unsigned = format!("{}.{}.", b64(&header), b64(payload(&claims())));
        let single = Verifier::from_public_pem(ed().pem(), validation()).unwrap();
        assert_eq!(
            single.verify(&unsigned),
            Err(VerifyError::AlgorithmNotAllowed),
            "{alg}"
        );
        // A "signature" does not help.
        let with_sig = format!("{unsigned}{}", b64([1u8; 64]));
        assert_eq!(
            single.verify(&with_sig),
            Err(VerifyError::AlgorithmNotAllowed),
            "{alg}"
        );
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    for key in [ed(), ec(), rsa()] {
        // The classic confusion: the public PEM (and its DER, and its JWK) used as MAC secret.
        let secrets: Vec<Vec<u8>> = vec![
            key.pem().to_vec(),
            key.pem().strip_suffix(b"\n").unwrap().to_vec(),
            serde_json::to_vec(key.jwk()).unwrap(),
        ];
        for secret in secrets {
            for header in [
                json!({"alg": "HS256", "typ": "JWT", "kid": key.kid}).to_string(),
                json!({"alg": "HS256", "typ": "JWT"}).to_string(),
            ] {
                let input = format!("{}.{}", b64(&header), b64(payload(&claims())));
                let token = format!("{input}.{}", b64(hmac(&secret, input.as_bytes())));
                let single = Verifier::from_public_pem(key.pem(), validation()).unwrap();
                let named =
                    Verifier::from_public_pem_with_kid(key.pem(), &key.kid, validation()).unwrap();
                let single = if header.contains("kid") {
                    named
                } else {
                    single
                };
                assert_eq!(
                    single.verify(&token),
                    Err(VerifyError::AlgorithmNotAllowed),
                    "{} {header}",
                    key.kid
                );
                if header.contains("kid") {
                    assert_eq!(
                        verifier().verify(&token),
                        Err(VerifyError::AlgorithmNotAllowed),
                        "{}",
                        key.kid
                    );
                }
            }
        }
    }
}

#[test]
fn other_algorithm_mismatches_are_refused() {
    let v = verifier();
    // An Ed25519 key's kid with alg ES256 / RS256 / PS256 / HS512 / EdDSA lowercase.
    for alg in ["ES256", "RS256", "PS256", "HS512", "eddsa", "ES512", ""] {
        let header = json!({"alg": alg, "kid": "ed-1"}).to_string();
        let token = ed().sign_parts(&header, &payload(&claims()));
        assert_eq!(
            v.verify(&token),
            Err(VerifyError::AlgorithmNotAllowed),
            "{alg:?}"
        );
    }
}

#[test]
fn signature_stripped() {
    let token = ed().token(&claims());
    let stripped = format!("{}.", token.rsplit_once('.').unwrap().0);
    assert_eq!(verifier().verify(&stripped), Err(VerifyError::BadSignature));
}

#[test]
fn payload_and_roles_tampered() {
    let v = verifier();
    for key in [ed(), ec(), rsa()] {
        let token = key.token(&claims());
        let admin = with(claims(), "sub", json!("admin"));
        assert_eq!(
            v.verify(&swap_payload(&token, &admin)),
            Err(VerifyError::BadSignature),
            "{}",
            key.kid
        );
        let roles = with(claims(), "roles", json!(["user", "admin"]));
        assert_eq!(
            v.verify(&swap_payload(&token, &roles)),
            Err(VerifyError::BadSignature),
            "{}",
            key.kid
        );
        // Header tampered (kid moved to another key of the same type is impossible here, so
        // add a parameter): the header is signed too.
        let parts: Vec<&str> = token.split('.').collect();
        let header =
            json!({"alg": key.alg_name(), "typ": "JWT", "kid": key.kid, "x": 1}).to_string();
        let moved = format!("{}.{}.{}", b64(header), parts[1], parts[2]);
        assert_eq!(
            v.verify(&moved),
            Err(VerifyError::BadSignature),
            "{}",
            key.kid
        );
    }
}

#[test]
fn kid_path_traversal_and_unknown_kids() {
    let v = verifier();
    for kid in [
        "../../etc/passwd",
        "/dev/null",
        "ed-1\0",
        "ED-1",
        " ed-1",
        "",
        "ed-1/../ed-1",
    ] {
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}).to_string();
        // Signed with the right key: still refused, the kid names nothing in the set.
        let token = ed().sign_parts(&header, &payload(&claims()));
        assert_eq!(v.verify(&token), Err(VerifyError::UnknownKey), "{kid:?}");
    }
    // No kid with several keys: no guessing.
    let header = json!({"alg": "EdDSA", "typ": "JWT"}).to_string();
    assert_eq!(
        v.verify(&ed().sign_parts(&header, &payload(&claims()))),
        Err(VerifyError::UnknownKey)
    );
}

#[test]
fn token_signed_by_an_unknown_key_with_a_plausible_kid() {
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": "ed-2"}).to_string();
    let token = attacker_ed().sign_parts(&header, &payload(&claims()));
    assert_eq!(verifier().verify(&token), Err(VerifyError::UnknownKey));
}

#[test]
fn embedded_jwk_header_is_not_trusted() {
    let attacker_jwk = serde_json::to_value(attacker_ed().jwk()).unwrap();
    let v = verifier();
    // Our kid, the attacker's key embedded and used to sign.
    let header = json!({"alg": "EdDSA", "kid": "ed-1", "jwk": attacker_jwk}).to_string();
    let token = attacker_ed().sign_parts(&header, &payload(&claims()));
    assert_eq!(v.verify(&token), Err(VerifyError::BadSignature));
    // The attacker's own kid: not in our set.
    let header = json!({"alg": "EdDSA", "kid": "attacker", "jwk": attacker_jwk}).to_string();
    let token = attacker_ed().sign_parts(&header, &payload(&claims()));
    assert_eq!(v.verify(&token), Err(VerifyError::UnknownKey));
    // Same with x5c (a certificate chain) and without kid on a single-key verifier.
    let single = Verifier::from_public_pem(ed().pem(), validation()).unwrap();
    let header = json!({"alg": "EdDSA", "jwk": attacker_jwk, "x5c": ["MIIB"]}).to_string();
    let token = attacker_ed().sign_parts(&header, &payload(&claims()));
    assert_eq!(single.verify(&token), Err(VerifyError::BadSignature));
}

#[test]
fn jku_and_x5u_are_never_fetched() {
    // A listener standing in for the attacker's key server: it must never see a connection.
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let url = format!("http://{}/jwks.json", trap.local_addr().unwrap());
    let v = verifier();
    for (kid, expected) in [
        ("attacker", VerifyError::UnknownKey),
        ("ed-1", VerifyError::BadSignature),
    ] {
        let header = json!({"alg": "EdDSA", "kid": kid, "jku": url, "x5u": url}).to_string();
        let token = attacker_ed().sign_parts(&header, &payload(&claims()));
        assert_eq!(v.verify(&token), Err(expected), "{kid}");
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(
        trap.accept().is_err(),
        "the verifier connected to the jku/x5u URL"
    );
    assert_eq!(v.fetch_count(), 0);
}

#[test]
fn ecdsa_zero_signature_and_wrong_lengths() {
    let v = verifier();
    let input = format!("{}.{}", b64(ec().header()), b64(payload(&claims())));
    // r = s = 0 (psychic signatures, CVE-2022-21449).
    assert_eq!(
        v.verify(&format!("{input}.{}", b64([0u8; 64]))),
        Err(VerifyError::BadSignature)
    );
    // r = s = n (the group order), also invalid.
    let n = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    let n: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&n[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let rn = [n.clone(), n].concat();
    assert_eq!(
        v.verify(&format!("{input}.{}", b64(&rn))),
        Err(VerifyError::BadSignature)
    );
    // A valid signature, truncated, extended, or DER-encoded instead of fixed: refused.
    let sig = ec().sign_raw(input.as_bytes());
    assert!(v.verify(&format!("{input}.{}", b64(&sig))).is_ok());
    for bad in [
        &sig[..63],
        &[&sig[..], &[0u8][..]].concat()[..],
        &[0x30u8, 0x44][..],
    ] {
        assert_eq!(
            v.verify(&format!("{input}.{}", b64(bad))),
            Err(VerifyError::BadSignature)
        );
    }
    // Ed25519 all-zero signature.
    let input = format!("{}.{}", b64(ed().header()), b64(payload(&claims())));
    assert_eq!(
        v.verify(&format!("{input}.{}", b64([0u8; 64]))),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn time_claims() {
    let v = verifier();
    let now = now();
    let key = ed();
    assert_eq!(
        v.verify(&key.token(&with(claims(), "exp", json!(now - 120)))),
        Err(VerifyError::Expired)
    );
    assert!(
        v.verify(&key.token(&with(claims(), "exp", json!(now))))
            .is_ok(),
        "within the 30 s leeway"
    );
    assert!(
        v.verify(&key.token(&with(claims(), "exp", json!(now - 20))))
            .is_ok(),
        "within the 30 s leeway"
    );
    assert_eq!(
        v.verify(&key.token(&with(claims(), "nbf", json!(now + 3600)))),
        Err(VerifyError::NotYetValid)
    );
    assert!(
        v.verify(&key.token(&with(claims(), "nbf", json!(now + 10))))
            .is_ok(),
        "within leeway"
    );
    assert_eq!(
        v.verify(&key.token(&with(claims(), "iat", json!(now + 86_400)))),
        Err(VerifyError::IssuedInFuture)
    );
    // A configured leeway beyond 5 minutes is capped.
    let lax = Verifier::from_jwk_set(
        &jwk_set(),
        Validation {
            leeway: std::time::Duration::from_secs(86_400),
            ..validation()
        },
    )
    .unwrap();
    assert_eq!(
        lax.verify(&key.token(&with(claims(), "exp", json!(now - 600)))),
        Err(VerifyError::Expired)
    );
    assert!(lax
        .verify(&key.token(&with(claims(), "exp", json!(now - 200))))
        .is_ok());
}

#[test]
fn issuer_and_audience() {
    let v = verifier();
    let key = ec();
    assert_eq!(
        v.verify(&key.token(&with(claims(), "iss", json!("https://evil.test")))),
        Err(VerifyError::WrongIssuer)
    );
    assert_eq!(
        v.verify(&key.token(&without(claims(), "iss"))),
        Err(VerifyError::WrongIssuer)
    );
    let aud = Verifier::from_jwk_set(
        &jwk_set(),
        validation().with_audience(["orders", "billing"]),
    )
    .unwrap();
    assert_eq!(
        aud.verify(&key.token(&claims())),
        Err(VerifyError::WrongAudience),
        "no aud"
    );
    assert_eq!(
        aud.verify(&key.token(&with(claims(), "aud", json!("shipping")))),
        Err(VerifyError::WrongAudience)
    );
    assert_eq!(
        aud.verify(&key.token(&with(claims(), "aud", json!(["shipping", "crm"])))),
        Err(VerifyError::WrongAudience)
    );
    assert!(aud
        .verify(&key.token(&with(claims(), "aud", json!("billing"))))
        .is_ok());
    assert!(aud
        .verify(&key.token(&with(claims(), "aud", json!(["x", "orders"]))))
        .is_ok());
}

#[test]
fn required_claims() {
    let v = verifier();
    assert_eq!(
        v.verify(&rsa().token(&without(claims(), "exp"))),
        Err(VerifyError::MissingClaim("exp"))
    );
    assert_eq!(
        v.verify(&rsa().token(&without(claims(), "sub"))),
        Err(VerifyError::MissingClaim("sub"))
    );
}

#[test]
fn unsupported_headers() {
    let v = verifier();
    let p = payload(&claims());
    for crit in [
        json!(["exp"]),
        json!(["x-unknown"]),
        json!([]),
        json!(null),
        json!("b64"),
    ] {
        let header =
            json!({"alg": "EdDSA", "kid": "ed-1", "crit": crit, "x-unknown": true}).to_string();
        assert_eq!(
            v.verify(&ed().sign_parts(&header, &p)),
            Err(VerifyError::UnsupportedHeader("crit")),
            "{crit}"
        );
    }
    for typ in [
        json!("foo"),
        json!("JWS"),
        json!(""),
        json!(1),
        json!("application/foo"),
        json!("logout+jwt"),
    ] {
        let header = json!({"alg": "EdDSA", "kid": "ed-1", "typ": typ}).to_string();
        assert_eq!(
            v.verify(&ed().sign_parts(&header, &p)),
            Err(VerifyError::UnsupportedHeader("typ")),
            "{typ}"
        );
    }
    // JWT (RFC 7519) and RFC 9068 access tokens, with or without the media type prefix, in
    // any case.
    for typ in [
        "JWT",
        "jwt",
        "application/jwt",
        "at+jwt",
        "at+JWT",
        "application/at+jwt",
        "APPLICATION/AT+JWT",
    ] {
        let header = json!({"alg": "EdDSA", "kid": "ed-1", "typ": typ}).to_string();
        assert!(v.verify(&ed().sign_parts(&header, &p)).is_ok(), "{typ}");
    }
}

#[test]
fn structure() {
    let v = verifier();
    let token = ed().token(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let malformed = |t: &str| matches!(v.verify(t), Err(VerifyError::Malformed(_)));
    assert!(
        malformed(&format!("{}.{}", parts[0], parts[1])),
        "2 segments"
    );
    assert!(malformed(&format!("{token}.{}", parts[2])), "4 segments");
    assert!(malformed(&format!("{token}.")), "trailing dot");
    assert!(malformed(""), "empty");
    assert!(malformed("...."), "dots");
    for (i, bad) in ["+", "/", " ", "!", "\n", "é", "%2F"].iter().enumerate() {
        let segment = i % 3;
        let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        p[segment].insert_str(4, bad);
        assert!(malformed(&p.join(".")), "{bad:?} in segment {segment}");
    }
    // Padding: valid base64 with '=' in any segment is refused.
    for segment in 0..3 {
        let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        let padded = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE,
            base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                &p[segment],
            )
            .unwrap(),
        );
        if padded.ends_with('=') {
            p[segment] = padded;
            assert!(malformed(&p.join(".")), "padding in segment {segment}");
        }
        let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        p[segment].push('=');
        assert!(malformed(&p.join(".")), "'=' appended to segment {segment}");
    }
    // Header not an object / not JSON.
    assert!(malformed(
        &ed().sign_parts(r#"["EdDSA"]"#, &payload(&claims()))
    ));
    assert!(malformed(
        &ed().sign_parts("{alg: EdDSA}", &payload(&claims()))
    ));
    assert!(malformed(&ed().sign_parts(
        r#"{"alg":"EdDSA","kid":"ed-1"} x"#,
        &payload(&claims())
    )));
}

#[test]
fn oversized_tokens_are_refused_before_decoding() {
    let v = verifier();
    let huge = "a".repeat(1 << 20);
    assert_eq!(v.verify(&huge), Err(VerifyError::TooLarge));
    // A real, validly signed token over the limit.
    let big = with(claims(), "pad", json!("x".repeat(10_000)));
    assert_eq!(v.verify(&ed().token(&big)), Err(VerifyError::TooLarge));
    let roomy =
        Verifier::from_jwk_set(&jwk_set(), validation().with_max_token_size(64 * 1024)).unwrap();
    assert!(roomy.verify(&ed().token(&big)).is_ok());
    // The limit is inclusive.
    let token = ed().token(&claims());
    let exact =
        Verifier::from_jwk_set(&jwk_set(), validation().with_max_token_size(token.len())).unwrap();
    assert!(exact.verify(&token).is_ok());
    let short = Verifier::from_jwk_set(
        &jwk_set(),
        validation().with_max_token_size(token.len() - 1),
    )
    .unwrap();
    assert_eq!(short.verify(&token), Err(VerifyError::TooLarge));
}

#[test]
fn duplicate_names() {
    let v = verifier();
    let now = now();
    let dup_exp = format!(
        r#"{{"sub":"alice","iss":"{ISS}","exp":{},"exp":{}}}"#,
        now - 100,
        now + 99_999
    );
    assert!(matches!(
        v.verify(&ed().sign_parts(&ed().header(), dup_exp.as_bytes())),
        Err(VerifyError::Malformed(_))
    ));
    let dup_sub = format!(
        r#"{{"sub":"alice","sub":"admin","iss":"{ISS}","exp":{}}}"#,
        now + 600
    );
    assert!(matches!(
        v.verify(&ed().sign_parts(&ed().header(), dup_sub.as_bytes())),
        Err(VerifyError::Malformed(_))
    ));
    let p = payload(&claims());
    for header in [
        r#"{"alg":"EdDSA","kid":"ed-1","alg":"EdDSA"}"#,
        r#"{"alg":"EdDSA","kid":"ed-1","kid":"ed-1"}"#,
        r#"{"alg":"EdDSA","kid":"ed-1","jku":"a","jku":"b"}"#,
        r#"{"alg":"EdDSA","kid":"ed-1","\u006bid":"x"}"#,
    ] {
        assert!(
            matches!(
                v.verify(&ed().sign_parts(header, &p)),
                Err(VerifyError::Malformed(_))
            ),
            "{header}"
        );
    }
}

#[test]
fn wrongly_typed_members() {
    let v = verifier();
    let p = payload(&claims());
    for header in [
        r#"{"alg":256,"kid":"ed-1"}"#,
        r#"{"alg":["EdDSA"],"kid":"ed-1"}"#,
        r#"{"alg":null,"kid":"ed-1"}"#,
        r#"{"kid":"ed-1"}"#,
        r#"{"alg":"EdDSA","kid":1}"#,
    ] {
        assert!(
            matches!(
                v.verify(&ed().sign_parts(header, &p)),
                Err(VerifyError::Malformed(_))
            ),
            "{header}"
        );
    }
    for exp in [
        json!(1.5),
        json!(format!("{}", now() + 600)),
        json!(1e30),
        json!(99_999_999_999_999_999_999u128 as f64),
        json!(null),
        json!(true),
    ] {
        let token = ed().token(&with(claims(), "exp", exp.clone()));
        assert!(
            matches!(v.verify(&token), Err(VerifyError::Malformed(_))),
            "exp = {exp}"
        );
    }
    let huge = format!(r#"{{"sub":"alice","iss":"{ISS}","exp":99999999999999999999999}}"#);
    assert!(matches!(
        v.verify(&ed().sign_parts(&ed().header(), huge.as_bytes())),
        Err(VerifyError::Malformed(_))
    ));
    for (claim, value) in [
        ("nbf", json!(0.5)),
        ("iat", json!("now")),
        ("sub", json!(7)),
        ("iss", json!(["a"])),
        ("aud", json!(3)),
        ("roles", json!("admin")),
    ] {
        let token = ed().token(&with(claims(), claim, value.clone()));
        assert!(
            matches!(v.verify(&token), Err(VerifyError::Malformed(_))),
            "{claim} = {value}"
        );
    }
}

#[test]
fn nested_jwt_as_payload() {
    let v = verifier();
    let inner = ed().token(&claims());
    // The whole payload is a JWT (what `cty: JWT` nesting does): never unwrapped.
    let header = json!({"alg": "EdDSA", "kid": "ed-1", "cty": "JWT"}).to_string();
    assert!(matches!(
        v.verify(&ed().sign_parts(&header, inner.as_bytes())),
        Err(VerifyError::Malformed(_))
    ));
    assert!(matches!(
        v.verify(&ed().sign_parts(&ed().header(), inner.as_bytes())),
        Err(VerifyError::Malformed(_))
    ));
    // A JSON string holding the JWT.
    let quoted = serde_json::to_vec(&inner).unwrap();
    assert!(matches!(
        v.verify(&ed().sign_parts(&ed().header(), &quoted)),
        Err(VerifyError::Malformed(_))
    ));
    // Other non-objects.
    for p in [&b"[]"[..], b"null", b"", b"\xff\xfe", b"{}x"] {
        assert!(
            matches!(
                v.verify(&ed().sign_parts(&ed().header(), p)),
                Err(VerifyError::Malformed(_))
            ),
            "{p:?}"
        );
    }
}

#[test]
fn signature_is_checked_before_claims() {
    let v = verifier();
    let now = now();
    let expired = ed().token(&with(claims(), "exp", json!(now - 3600)));
    let (input, _) = expired.rsplit_once('.').unwrap();
    let forged = format!("{input}.{}", b64(attacker_ed().sign_raw(input.as_bytes())));
    assert_eq!(v.verify(&forged), Err(VerifyError::BadSignature));
    // Missing claims and wrong issuer behind a bad signature: still BadSignature.
    for claims in [
        without(claims(), "exp"),
        with(claims(), "iss", json!("x")),
        json!("not a claim set"),
    ] {
        let header = ed().header();
        let input = format!("{}.{}", b64(&header), b64(claims.to_string()));
        let forged = format!("{input}.{}", b64(attacker_ed().sign_raw(input.as_bytes())));
        assert_eq!(
            v.verify(&forged),
            Err(VerifyError::BadSignature),
            "{claims}"
        );
    }
}

#[test]
fn errors_never_show_the_token() {
    let v = verifier();
    let token = ed().token(&with(claims(), "exp", json!(now() - 3600)));
    let err = v.verify(&token).unwrap_err();
    let shown = format!("{err} {err:?}");
    for part in token.split('.') {
        assert!(!shown.contains(part), "{shown}");
    }
    assert_eq!(err.reason(), "expired");
}

#[test]
fn mangled_tokens_never_panic() {
    let v = verifier();
    let token = ed().token(&claims());
    let bytes = token.as_bytes();
    let alphabet = b".-_=+/ Aa0\x00";
    for i in 0..bytes.len() {
        for &c in alphabet {
            let mut t = bytes.to_vec();
            t[i] = c;
            let t = String::from_utf8_lossy(&t);
            assert!(v.verify(&t).is_err() || t == token);
        }
        let _ = v.verify(&token[..i]);
        let _ = v.verify_authorization(&bytes[..i]);
    }
}

#[test]
fn large_headers_are_read_like_small_ones() {
    let v = verifier();
    // Past the on-stack header buffer: same rules, same answers.
    let chain = vec!["MIIB".repeat(100); 3];
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": "ed-1", "x5c": chain}).to_string();
    assert!(header.len() > 1000);
    assert!(v
        .verify(&ed().sign_parts(&header, &payload(&claims())))
        .is_ok());
    let header = json!({"alg": "EdDSA", "kid": "ed-1", "x5c": chain, "crit": ["x"]}).to_string();
    assert_eq!(
        v.verify(&ed().sign_parts(&header, &payload(&claims()))),
        Err(VerifyError::UnsupportedHeader("crit"))
    );
    let header = format!(
        r#"{{"alg":"EdDSA","kid":"ed-1","pad":"{}","alg":"none"}}"#,
        "x".repeat(1000)
    );
    assert!(matches!(
        v.verify(&ed().sign_parts(&header, &payload(&claims()))),
        Err(VerifyError::Malformed(_))
    ));
}
