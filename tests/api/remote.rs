//! A sibling service's `Verifier` built from the login service's URL, against the real binary:
//! key changes are picked up without rebuilding it, a stopped issuer does not stop
//! verification, and random `kid`s cannot make it hammer the issuer.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use watchword_verify::{RemoteOptions, Validation, Verifier, VerifyError};

use crate::cli::Running;
use crate::helpers::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(port: u16, key: &std::path::Path, users: &std::path::Path) -> Running {
    Running::start_on(
        port,
        &[
            (
                "WATCHWORD__TOKEN__ISSUER",
                format!("http://127.0.0.1:{port}"),
            ),
            (
                "WATCHWORD__KEYS__SIGNING_KEY_FILE",
                key.display().to_string(),
            ),
            ("WATCHWORD__USERS__FILE", users.display().to_string()),
        ],
    )
}

async fn login(base: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{base}/login"))
        .headers(creds("user_test", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_keys_follow_the_issuer_and_survive_its_absence() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, users_toml()).unwrap();
    let key_a = dir.path().join("a.pem");
    let key_b = dir.path().join("b.pem");
    for k in [&key_a, &key_b] {
        write_key(
            k,
            &watchword::token::signing_key::generate_pem("EdDSA".parse().unwrap()).unwrap(),
        );
    }
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");

    let server = start(port, &key_a, &users);
    let token_a = login(&server.base).await;
    let options = RemoteOptions {
        cooldown: Duration::from_millis(200),
        ..RemoteOptions::default()
    };
    let verifier = Verifier::from_url(
        &format!("{issuer}/.well-known/openid-configuration"),
        Validation {
            issuer: Some(issuer.clone()),
            ..Validation::default()
        },
        options,
    )
    .await
    .expect("verifier from the discovery URL");
    assert_eq!(verifier.verify(&token_a).unwrap().sub, "user_test");

    // The issuer goes away: cached keys keep working.
    server.stop();
    assert_eq!(verifier.verify(&token_a).unwrap().sub, "user_test");

    // It comes back on the same address with a new key: the new kid is fetched on demand.
    let server = start(port, &key_b, &users);
    let token_b = login(&server.base).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match verifier.verify(&token_b) {
            Ok(c) => {
                assert_eq!(c.sub, "user_test");
                break;
            }
            Err(VerifyError::UnknownKey) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("new key not picked up: {e}"),
        }
    }

    // A flood of random kids: at most one fetch per cool-down.
    let flood = Verifier::from_url(
        &format!("{issuer}/.well-known/jwks.json"),
        Validation::default(),
        RemoteOptions {
            cooldown: Duration::from_secs(60),
            ..RemoteOptions::default()
        },
    )
    .await
    .unwrap();
    let before = flood.fetch_count();
    for i in 0..1000 {
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"EdDSA","typ":"JWT","kid":"random-{i}"}}"#
        ));
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"x","exp":9999999999}"#);
        let sig = URL_SAFE_NO_PAD.encode([7u8; 64]);
        let forged = format!("{header}.{payload}.{sig}");
        assert!(matches!(
            flood.verify(&forged),
            Err(VerifyError::UnknownKey)
        ));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fetched = flood.fetch_count() - before;
    assert!(fetched <= 1, "{fetched} fetches for 1000 random kids");
    server.stop();
}
