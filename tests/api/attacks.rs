//! The token attack suite against the running service: every forged token is refused by the
//! library (a `Verifier` built from the server's published JWKS) and by `/verify`, each with
//! its own reason. The library-only suite, with more key types, is in `tests/verifier`.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use watchword_verify::{Validation, Verifier};

use crate::helpers::*;

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

type Signer = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A server signing with a key this test holds too, so it can forge "valid" signatures.
struct Target {
    app: TestApp,
    verifier: Verifier,
    kid: String,
    alg: &'static str,
    sign: Signer,
}

const ISSUER: &str = "https://login.test";
const AUDIENCE: &str = "billing";

async fn target(alg: &'static str) -> Target {
    let pem_text = watchword::token::signing_key::generate_pem(alg.parse().unwrap()).unwrap();
    let der = pem::parse(&pem_text).unwrap().into_contents();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    write_key(&key, &pem_text);
    let app = spawn_with(Spec {
        config: format!(
            "[token]\nalgorithm = \"{alg}\"\nissuer = \"{ISSUER}\"\naudience = [\"{AUDIENCE}\"]\n\
             [keys]\nsigning_key_file = \"{}\"\n",
            key.display()
        ),
        ..Spec::default()
    })
    .await;
    let jwks = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    let set: Value = serde_json::from_str(&jwks).unwrap();
    let kid = set["keys"][0]["kid"].as_str().unwrap().to_owned();
    let validation = Validation {
        issuer: Some(ISSUER.into()),
        audience: vec![AUDIENCE.into()],
        ..Validation::default()
    };
    let verifier = Verifier::from_jwks_json(&jwks, validation).unwrap();
    let sign: Signer = match alg {
        "EdDSA" => {
            let pair = Ed25519KeyPair::from_pkcs8(&der).unwrap();
            Box::new(move |m| pair.sign(m).as_ref().to_vec())
        }
        "ES256" => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).unwrap();
            Box::new(move |m| {
                pair.sign(&SystemRandom::new(), m)
                    .unwrap()
                    .as_ref()
                    .to_vec()
            })
        }
        other => panic!("no signer for {other}"),
    };
    Target {
        app,
        verifier,
        kid,
        alg,
        sign,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn good_claims() -> Value {
    json!({"sub": "user_test", "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "nbf": now(),
           "exp": now() + 600, "roles": ["demo"]})
}

impl Target {
    fn header(&self) -> Value {
        json!({"alg": self.alg, "typ": "JWT", "kid": self.kid})
    }

    /// Sign already-encoded segments.
    fn sign_segments(&self, header: &str, payload: &str) -> String {
        let input = format!("{header}.{payload}");
        format!("{input}.{}", b64((self.sign)(input.as_bytes())))
    }

    /// A correctly signed token with this header and payload (raw JSON text).
    fn forge(&self, header: &str, payload: &str) -> String {
        self.sign_segments(&b64(header), &b64(payload))
    }

    fn token(&self, claims: &Value) -> String {
        self.forge(&self.header().to_string(), &claims.to_string())
    }

    /// Refused by the library with `reason`, and by `/verify` with 401 and the same reason.
    async fn assert_refused(&self, name: &str, token: &str, reason: &str) {
        match self.verifier.verify(token) {
            Ok(c) => panic!("{name}: library accepted a forged token for {}", c.sub),
            Err(e) => assert_eq!(e.reason(), reason, "{name}: library said {e}"),
        }
        let res = self
            .app
            .client
            .get(format!("{}/verify", self.app.base))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{name}: /verify");
        let www = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            www,
            format!(r#"Bearer error="invalid_token", error_description="{reason}""#),
            "{name}: /verify"
        );
        assert!(res.headers().get("x-auth-user").is_none(), "{name}");
    }
}

#[tokio::test]
async fn forged_tokens_are_refused_by_library_and_verify_endpoint() {
    let t = target("EdDSA").await;
    let good = t.token(&good_claims());
    assert!(
        t.verifier.verify(&good).is_ok(),
        "the control token verifies"
    );
    let res = t
        .app
        .client
        .get(format!("{}/verify", t.app.base))
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "control token through /verify");

    let seg: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (seg[0], seg[1], seg[2]);
    let claims_value = good_claims();
    let claims = claims_value.to_string();
    let exp_field = format!("\"exp\":{}", claims_value["exp"]);
    assert!(claims.contains(&exp_field));
    let with = |k: &str, v: Value| {
        let mut c = good_claims();
        c[k] = v;
        t.token(&c)
    };
    let without = |k: &str| {
        let mut c = good_claims();
        c.as_object_mut().unwrap().remove(k);
        t.token(&c)
    };
    let header_with = |k: &str, v: Value| {
        let mut hd = t.header();
        hd[k] = v;
        t.forge(&hd.to_string(), &claims)
    };
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(json!({"alg": alg, "typ": "JWT"}).to_string()),
            p
        )
    };

    // HS256 with the public key's PEM as the MAC secret (key confusion).
    let jwks = t
        .app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    let x = serde_json::from_str::<Value>(&jwks).unwrap()["keys"][0]["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let spki = [
        &[
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ][..],
        &URL_SAFE_NO_PAD.decode(&x).unwrap(),
    ]
    .concat();
    let public_pem = pem::encode(&pem::Pem::new("PUBLIC KEY", spki));
    let hs_input = format!(
        "{}.{p}",
        b64(json!({"alg": "HS256", "typ": "JWT", "kid": t.kid}).to_string())
    );
    let hs_sig = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public_pem.as_bytes()),
        hs_input.as_bytes(),
    );
    let hs_confused = format!("{hs_input}.{}", b64(hs_sig.as_ref()));

    // The attacker's own key, offered in a `jwk` header and signing the token.
    let rng = SystemRandom::new();
    let attacker =
        Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
    let attacker_jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(aws_lc_rs::signature::KeyPair::public_key(&attacker))});
    let jwk_header =
        json!({"alg": "EdDSA", "typ": "JWT", "kid": t.kid, "jwk": attacker_jwk}).to_string();
    let jwk_input = format!("{}.{p}", b64(&jwk_header));
    let embedded_jwk = format!("{jwk_input}.{}", b64(attacker.sign(jwk_input.as_bytes())));
    let unknown_input = format!(
        "{}.{p}",
        b64(json!({"alg": "EdDSA", "typ": "JWT", "kid": "retired-2025"}).to_string())
    );
    let unknown_key = format!(
        "{unknown_input}.{}",
        b64(attacker.sign(unknown_input.as_bytes()))
    );

    let mut tampered_sig = s.as_bytes().to_vec();
    tampered_sig[3] = if tampered_sig[3] == b'A' { b'B' } else { b'A' };
    let tampered_sig = String::from_utf8(tampered_sig).unwrap();
    let mut escalated = good_claims();
    escalated["roles"] = json!(["demo", "admin"]);

    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", unsigned("none"), "algorithm_not_allowed"),
        ("alg None", unsigned("None"), "algorithm_not_allowed"),
        (
            "HS256 with the public key as secret",
            hs_confused,
            "algorithm_not_allowed",
        ),
        ("signature stripped", format!("{h}.{p}."), "bad_signature"),
        (
            "signature tampered",
            format!("{h}.{p}.{tampered_sig}"),
            "bad_signature",
        ),
        (
            "payload tampered",
            format!("{h}.{}.{s}", b64(claims.replace("user_test", "admin"))),
            "bad_signature",
        ),
        (
            "roles tampered",
            format!("{h}.{}.{s}", b64(escalated.to_string())),
            "bad_signature",
        ),
        (
            "kid path traversal",
            header_with("kid", json!("../../../../etc/passwd")),
            "unknown_key",
        ),
        ("attacker key in jwk header", embedded_jwk, "bad_signature"),
        (
            "jku pointing elsewhere",
            header_with("jku", json!("https://attacker.example/jwks.json")),
            "ok-if-valid",
        ),
        (
            "x5u pointing elsewhere",
            header_with("x5u", json!("https://attacker.example/cert.pem")),
            "ok-if-valid",
        ),
        (
            "signed by an unknown or retired key",
            unknown_key,
            "unknown_key",
        ),
        (
            "unknown crit",
            header_with("crit", json!(["exp"])),
            "unsupported_header",
        ),
        (
            "typ other than JWT and at+jwt",
            header_with("typ", json!("foo")),
            "unsupported_header",
        ),
        (
            "alg not a string",
            header_with("alg", json!(["EdDSA"])),
            "malformed",
        ),
        ("expired", with("exp", json!(now() - 3600)), "expired"),
        (
            "nbf in the future",
            with("nbf", json!(now() + 3600)),
            "not_yet_valid",
        ),
        (
            "iat far in the future",
            with("iat", json!(now() + 86400 * 365)),
            "issued_in_future",
        ),
        (
            "wrong iss",
            with("iss", json!("https://evil.test")),
            "wrong_issuer",
        ),
        (
            "wrong aud",
            with("aud", json!("someone-else")),
            "wrong_audience",
        ),
        ("missing exp", without("exp"), "missing_claim"),
        ("missing sub", without("sub"), "missing_claim"),
        (
            "exp as a float",
            with("exp", json!(now() as f64 + 600.5)),
            "malformed",
        ),
        (
            "exp as a string",
            with("exp", json!((now() + 600).to_string())),
            "malformed",
        ),
        (
            "exp huge",
            t.forge(
                &t.header().to_string(),
                &claims.replace(&exp_field, "\"exp\":1e400"),
            ),
            "malformed",
        ),
        (
            "duplicate exp",
            t.forge(
                &t.header().to_string(),
                &claims.replacen('{', &format!("{{\"exp\":{},", now() + 999_999), 1),
            ),
            "malformed",
        ),
        (
            "duplicate sub",
            t.forge(
                &t.header().to_string(),
                &claims.replacen('{', "{\"sub\":\"admin\",", 1),
            ),
            "malformed",
        ),
        (
            "nested JWT as payload",
            t.sign_segments(h, &b64(&good)),
            "malformed",
        ),
        ("two segments", format!("{h}.{p}"), "malformed"),
        ("four segments", format!("{good}.{s}"), "malformed"),
        ("base64 with padding", format!("{h}=.{p}.{s}"), "malformed"),
        (
            "non-url base64 alphabet",
            format!("{h}.{}.{s}", p.replace('-', "+").replace('_', "/") + "+/"),
            "malformed",
        ),
        ("not base64 at all", "%%%.***.!!!".to_owned(), "malformed"),
        (
            "over the size limit",
            format!("{h}.{}.{s}", "A".repeat(9 * 1024)),
            "too_large",
        ),
    ];
    for (name, token, reason) in cases {
        if reason == "ok-if-valid" {
            // A URL in the header is never fetched: the token is judged by our keys alone,
            // and this one is validly signed by them.
            assert!(t.verifier.verify(&token).is_ok(), "{name}");
            continue;
        }
        t.assert_refused(name, &token, reason).await;
    }

    // 1 MiB: the library refuses it before decoding; HTTP refuses the header block itself.
    let huge = format!("{h}.{}.{s}", "A".repeat(1 << 20));
    assert_eq!(t.verifier.verify(&huge).unwrap_err().reason(), "too_large");
    let res = t
        .app
        .client
        .get(format!("{}/verify", t.app.base))
        .bearer_auth(&huge)
        .send()
        .await;
    match res {
        Ok(r) => assert!(r.status().is_client_error(), "{}", r.status()),
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
}

/// RFC 9068 access tokens (`typ: at+jwt`) verify like JWTs, whatever the case of `typ` and
/// with or without `application/`; another `typ` is refused, by the library and by /verify.
#[tokio::test]
async fn typ_jwt_and_at_jwt_are_accepted_and_nothing_else() {
    let t = target("EdDSA").await;
    let claims = good_claims().to_string();
    for typ in [
        "JWT",
        "at+jwt",
        "at+JWT",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        let mut header = t.header();
        header["typ"] = json!(typ);
        let token = t.forge(&header.to_string(), &claims);
        assert!(t.verifier.verify(&token).is_ok(), "{typ}: library");
        let res = t
            .app
            .client
            .get(format!("{}/verify", t.app.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{typ}: /verify");
    }
    for typ in [
        json!("foo"),
        json!("JWS"),
        json!("application/foo"),
        json!(["at+jwt"]),
    ] {
        let mut header = t.header();
        header["typ"] = typ.clone();
        let token = t.forge(&header.to_string(), &claims);
        t.assert_refused(&format!("typ {typ}"), &token, "unsupported_header")
            .await;
    }
}

#[tokio::test]
async fn psychic_ecdsa_signature_is_refused() {
    let t = target("ES256").await;
    let good = t.token(&good_claims());
    assert!(t.verifier.verify(&good).is_ok());
    let (h, p) = good.rsplit_once('.').unwrap().0.split_once('.').unwrap();
    // CVE-2022-21449: r = s = 0 "verifies" any message in a broken implementation.
    t.assert_refused(
        "r = s = 0",
        &format!("{h}.{p}.{}", b64([0u8; 64])),
        "bad_signature",
    )
    .await;
    // r = s = n (the curve order) is zero modulo n as well.
    let n = hex_order();
    t.assert_refused(
        "r = s = n",
        &format!("{h}.{p}.{}", b64([n.as_slice(), n.as_slice()].concat())),
        "bad_signature",
    )
    .await;
    t.assert_refused(
        "DER signature instead of P1363",
        &format!("{h}.{p}.{}", b64([0x30u8, 6, 2, 1, 1, 2, 1, 1])),
        "bad_signature",
    )
    .await;
}

fn hex_order() -> Vec<u8> {
    let hex = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
