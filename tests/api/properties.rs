//! Property tests: whatever bytes arrive, the answer is an envelope (never a panic or a 500),
//! and any claim set survives issue → verify unchanged.

use std::sync::OnceLock;

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};
use watchword_verify::claims::{Claims, RESERVED_CLAIMS};
use watchword_verify::envelope::Envelope;
use watchword_verify::{Validation, Verifier};

use crate::helpers::*;

/// One server for all cases, on its own runtime thread.
fn server() -> &'static (tokio::runtime::Runtime, String) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, String)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let spec = Spec {
            config: "[throttle]\nenabled = false\n".into(),
            ..Spec::default()
        };
        let app = rt.block_on(spawn_with(spec));
        let base = app.base.clone();
        std::mem::forget(app); // keep its files for the life of the test binary
        (rt, base)
    })
}

/// Bytes HTTP allows in a field value (visible ASCII, obs-text, space, tab), any length.
fn field_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(
            prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff],
            0..1500
        ),
        ".{0,300}".prop_map(String::into_bytes),
    ]
}

fn assert_envelope(status: u16, body: &str) -> Result<(), TestCaseError> {
    prop_assert!(status < 500 || status == 503, "status {status}: {body}");
    let env: Envelope =
        serde_json::from_str(body).map_err(|e| TestCaseError::fail(format!("{e}: {body:?}")))?;
    prop_assert!(env.code >= 200);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_credentials_get_an_envelope(user in field_bytes(), password in field_bytes(), get in any::<bool>()) {
        let (rt, base) = server();
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(&user) { h.insert("User-Name", v); }
        if let Ok(v) = HeaderValue::from_bytes(&password) { h.insert("Password", v); }
        let client = reqwest::Client::new();
        let (status, body) = rt.block_on(async {
            let req = if get { client.get(format!("{base}/login")) } else { client.post(format!("{base}/login")) };
            let res = req.headers(h).send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        });
        assert_envelope(status, &body)?;
    }

    /// Whatever form and `Authorization` arrive at /token, the answer is RFC 6749 JSON with
    /// its status: never a panic, a 500 or another shape.
    #[test]
    fn any_token_request_gets_an_rfc6749_answer(
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            "(grant_type=(password|client_credentials|x)?&)?(username=[a-z%+]{0,6}&)?(password=[ -~]{0,8}&)?(scope=[ -~]{0,8}&)?(client_id=[a-z%]{0,4}&)?(client_secret=[ -~]{0,6})?".prop_map(String::into_bytes),
        ],
        authorization in proptest::option::of(field_bytes()),
        form in any::<bool>(),
    ) {
        let (rt, base) = server();
        let mut h = HeaderMap::new();
        if let Some(v) = authorization.and_then(|a| HeaderValue::from_bytes(&a).ok()) {
            h.insert("Authorization", v);
        }
        if form {
            h.insert("Content-Type", HeaderValue::from_static("application/x-www-form-urlencoded"));
        }
        let (status, text) = rt.block_on(async {
            let res = reqwest::Client::new().post(format!("{base}/token")).headers(h).body(body).send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        });
        prop_assert!([200, 400, 401, 415, 429, 503].contains(&status), "status {status}: {text}");
        let answer: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text:?}")))?;
        if status == 200 {
            prop_assert!(answer["access_token"].is_string(), "{text}");
        } else {
            prop_assert!(answer["error"].is_string() && answer["error_description"].is_string(), "{text}");
        }
    }

    #[test]
    fn any_authorization_gets_an_envelope(value in field_bytes()) {
        let (rt, base) = server();
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(&value) { h.insert("Authorization", v); }
        let (status, body) = rt.block_on(async {
            let res = reqwest::Client::new().get(format!("{base}/verify")).headers(h).send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        });
        prop_assert_eq!(status, 401);
        assert_envelope(status, &body)?;
    }
}

fn issuer_and_verifier() -> &'static (watchword::token::issuer::Issuer, Verifier) {
    static PAIR: OnceLock<(watchword::token::issuer::Issuer, Verifier)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let alg = "ES256".parse().unwrap();
        let pem = watchword::token::signing_key::generate_pem(alg).unwrap();
        let key =
            watchword::token::signing_key::SigningKey::from_bytes(pem.as_bytes(), alg).unwrap();
        let settings = watchword::config::TokenSettings {
            issuer: "https://login.test".into(),
            audience: vec!["a".into()],
            algorithm: alg,
            ttl: std::time::Duration::from_secs(600),
            service_ttl: std::time::Duration::from_secs(600),
            profile: Default::default(),
            client_id: "watchword".into(),
        };
        let verifier = Verifier::from_jwk_set(
            &serde_json::to_value(key.jwk_set()).unwrap(),
            Validation::default(),
        )
        .unwrap();
        (
            watchword::token::issuer::Issuer::new(key, &settings),
            verifier,
        )
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

prop_compose! {
    fn claim_set()(
        sub in ".{1,60}",
        roles in proptest::collection::vec(".{0,20}", 0..5),
        extra in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,15}", json_value(), 0..6),
        jti in proptest::option::of("[a-f0-9-]{36}"),
    ) -> Claims {
        let now = chrono::Utc::now().timestamp();
        let extra: Map<String, Value> = extra.into_iter().filter(|(k, _)| !RESERVED_CLAIMS.contains(&k.as_str())).collect();
        Claims { sub, exp: now + 600, iss: Some("https://login.test".into()), aud: vec!["a".into()],
                 iat: Some(now), nbf: Some(now), jti, roles, extra }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_claim_set_round_trips(claims in claim_set()) {
        let (issuer, verifier) = issuer_and_verifier();
        let token = issuer.sign(&claims).unwrap();
        let back = verifier.verify(&token).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, claims);
    }

    #[test]
    fn any_string_as_token_is_refused_without_panic(token in ".{0,400}") {
        let (_, verifier) = issuer_and_verifier();
        prop_assert!(verifier.verify(&token).is_err());
    }
}
