//! What `/login` signs, checked with the published keys by an independent decoder
//! (jsonwebtoken used directly, not watchword's verifier).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::helpers::*;

async fn jwks(app: &TestApp) -> JwkSet {
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Check `token` against the app's JWKS the way any JOSE library would.
async fn decode_with_jwks(app: &TestApp, token: &str, alg: Algorithm) -> Value {
    let header = decode_header(token).unwrap();
    assert_eq!(header.alg, alg);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let kid = header.kid.expect("kid is set");
    let set = jwks(app).await;
    let jwk = set.find(&kid).expect("the token's kid is published");
    let mut v = Validation::new(alg);
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "sub", "iat", "nbf", "iss"]);
    decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .unwrap()
        .claims
}

#[tokio::test]
async fn token_verifies_with_the_published_key_and_carries_the_claims() {
    let app = spawn_app().await;
    let token = app.token("user_test", PASSWORD).await;
    let c = decode_with_jwks(&app, &token, Algorithm::EdDSA).await;
    assert_eq!(c["sub"], "user_test");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        1800
    );
    assert_eq!(c["nbf"], c["iat"]);
    assert_eq!(c["iss"], "http://127.0.0.1:8080");
    assert_eq!(c["roles"], serde_json::json!(["demo", "admin"]));
    assert_eq!(c["dept"], "ops");
    assert_eq!(c["level"], 3);
    let jti = c["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 36, "a UUID");
    let again = app.token("user_test", PASSWORD).await;
    let c2 = decode_with_jwks(&app, &again, Algorithm::EdDSA).await;
    assert_ne!(c2["jti"], c["jti"], "every token has its own jti");
    assert!(
        c.get("aud").is_none(),
        "no audience configured, no aud claim"
    );
}

#[tokio::test]
async fn ttl_and_audience_come_from_config() {
    let app = spawn_with(Spec {
        config: "[token]\nttl = \"2h\"\naudience = [\"billing\", \"crm\"]\nissuer = \"https://login.example\"\n".into(),
        ..Spec::default()
    })
    .await;
    let res = app.login(&Method::Post, "user_test", PASSWORD).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expires_in"], 7200);
    let c = decode_with_jwks(&app, body["token"].as_str().unwrap(), Algorithm::EdDSA).await;
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        7200
    );
    assert_eq!(c["aud"], serde_json::json!(["billing", "crm"]));
    assert_eq!(c["iss"], "https://login.example");
}

async fn app_with_key(alg: &str) -> TestApp {
    app_and_key(alg).await.0
}

/// A server signing with a fresh `alg` key, and that key's file contents.
async fn app_and_key(alg: &str) -> (TestApp, String) {
    let pem = watchword::token::signing_key::generate_pem(alg.parse().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    write_key(&key, &pem);
    let app = spawn_with(Spec {
        config: format!(
            "[token]\nalgorithm = \"{alg}\"\n[keys]\nsigning_key_file = \"{}\"\n",
            key.display()
        ),
        ..Spec::default()
    })
    .await;
    drop(dir); // the key is read at start
    (app, pem)
}

#[tokio::test]
async fn es256_and_rs256_key_files_work() {
    for (name, alg) in [
        ("ES256", Algorithm::ES256),
        ("RS256", Algorithm::RS256),
        ("EdDSA", Algorithm::EdDSA),
    ] {
        let app = app_with_key(name).await;
        let set = jwks(&app).await;
        assert_eq!(set.keys.len(), 1);
        let token = app.token("user_test", PASSWORD).await;
        let c = decode_with_jwks(&app, &token, alg).await;
        assert_eq!(c["sub"], "user_test", "{name}");
    }
}

#[tokio::test]
async fn hs256_publishes_no_key_and_verifies_with_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    // `openssl rand -base64 32` (a patterned 32-byte secret would be refused).
    let secret = "1dQ7rXv0yKp2NwZs8fHb4Lm6Tc9Ge3JaUoRiV5nEkM0=";
    write_key(&secret_file, &format!("{secret}\n"));
    let app = spawn_with(Spec {
        config: format!(
            "[token]\nalgorithm = \"HS256\"\n[keys]\nsigning_key_file = \"{}\"\n",
            secret_file.display()
        ),
        ..Spec::default()
    })
    .await;
    assert!(jwks(&app).await.keys.is_empty());
    let token = app.token("user_test", PASSWORD).await;
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_aud = false;
    let key = DecodingKey::from_secret(secret.as_bytes());
    let c = decode::<Value>(&token, &key, &v).unwrap().claims;
    assert_eq!(c["sub"], "user_test");
}

#[tokio::test]
async fn discovery_document_points_at_the_jwks() {
    let app = spawn_app().await;
    let res = app.get("/.well-known/openid-configuration").await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["issuer"], "http://127.0.0.1:8080");
    assert_eq!(
        doc["jwks_uri"],
        "http://127.0.0.1:8080/.well-known/jwks.json"
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["EdDSA"])
    );
}

#[tokio::test]
async fn verify_endpoint_accepts_fresh_tokens_and_rejects_tampered_ones() {
    let app = spawn_app().await;
    let token = app.token("user_test", PASSWORD).await;
    for scheme in ["Bearer", "Token", "bearer"] {
        let res = app
            .client
            .get(format!("{}/verify", app.base))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{scheme}");
        assert_eq!(res.headers()["x-auth-user"], "user_test");
        assert_eq!(res.headers()["x-auth-roles"], "demo,admin");
    }
    let res = app.get("/verify").await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");

    let mut tampered = token.into_bytes();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let res = app
        .client
        .get(format!("{}/verify", app.base))
        .header(
            "Authorization",
            format!("Bearer {}", String::from_utf8(tampered).unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(www.starts_with(r#"Bearer error="invalid_token""#), "{www}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], 401);
}

/// Two `Authorization` headers on `/verify` are refused whatever they hold (401
/// `invalid_request`): the first used to count, while a proxy or upstream may read the last.
#[tokio::test]
async fn two_authorization_headers_on_verify_are_refused() {
    let app = spawn_app().await;
    let token = app.token("user_test", PASSWORD).await;
    let good = format!("Bearer {token}");
    let cases = [
        [good.clone(), good.clone()],
        [good.clone(), "Bearer a.b.c".to_owned()],
        ["Bearer a.b.c".to_owned(), good.clone()],
        [good.clone(), "Basic dXNlcjpwYXNz".to_owned()],
    ];
    for [first, second] in cases {
        let res = app
            .client
            .get(format!("{}/verify", app.base))
            .header("Authorization", &first)
            .header("Authorization", &second)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{first} + {second}");
        assert!(res.headers().get("x-auth-user").is_none());
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"Bearer error="invalid_request", error_description="repeated_authorization""#
        );
        assert_eq!(
            res.text().await.unwrap(),
            r#"{"status":"error","code":401,"message":"Invalid request: more than one Authorization header."}"#
        );
    }
    // One header still verifies; on /login two are refused as any repeated field is.
    let res = app
        .client
        .get(format!("{}/verify", app.base))
        .header("Authorization", &good)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("user_test:{PASSWORD}"))
    );
    let res = app
        .client
        .post(format!("{}/login", app.base))
        .header("Authorization", &basic)
        .header("Authorization", &basic)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_body(res).await,
        (
            400,
            r#"{"status":"error","code":400,"message":"Field Authorization is given more than once."}"#
                .to_owned()
        )
    );
}

#[tokio::test]
async fn round_trip_login_then_verify_for_every_algorithm() {
    use watchword_verify::{Validation, Verifier};
    for alg in ["EdDSA", "ES256", "RS256", "HS256"] {
        let (app, key) = app_and_key(alg).await;
        let token = app.token("user_test", PASSWORD).await;
        let validation = Validation {
            issuer: Some("http://127.0.0.1:8080".into()),
            ..Validation::default()
        };
        let verifier = if alg == "HS256" {
            Verifier::from_hs256_secret(key.trim_end().as_bytes(), validation).unwrap()
        } else {
            let jwks = app
                .get("/.well-known/jwks.json")
                .await
                .text()
                .await
                .unwrap();
            Verifier::from_jwks_json(&jwks, validation).unwrap()
        };
        let claims = verifier
            .verify(&token)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims.sub, "user_test");
        assert_eq!(claims.roles, vec!["demo", "admin"]);
        assert_eq!(claims.extra["dept"], "ops");
        assert_eq!(claims.exp - claims.iat.unwrap(), 1800);

        let res = app
            .client
            .get(format!("{}/verify", app.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{alg}");
        assert_eq!(res.headers()["x-auth-user"], "user_test");
    }
}
