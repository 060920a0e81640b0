//! `Verifier::from_url` against a small HTTP server written here (plain Tokio, counting
//! requests): rotation, issuer outage, random-`kid` floods, discovery, shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use watchword_verify::{KeyError, RemoteOptions, Verifier, VerifyError};

use crate::common::*;

#[derive(Default)]
struct State {
    bodies: HashMap<String, String>,
    /// Paths answered with `302 Found` and this `Location`.
    redirects: HashMap<String, String>,
    hits: HashMap<String, u64>,
}

/// Answers `GET <path>` with the body set for that path (404 otherwise), one request per
/// connection.
struct KeyServer {
    base: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl KeyServer {
    async fn start() -> KeyServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024
                    {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let (body, redirect) = {
                        let mut state = state.lock().unwrap();
                        *state.hits.entry(path.clone()).or_default() += 1;
                        (
                            state.bodies.get(&path).cloned(),
                            state.redirects.get(&path).cloned(),
                        )
                    };
                    let response = match (body, redirect) {
                        (_, Some(location)) => format!(
                            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        ),
                        (Some(body), None) => format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        (None, None) => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                    };
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        KeyServer { base, state, task }
    }

    fn set(&self, path: &str, body: String) {
        self.state
            .lock()
            .unwrap()
            .bodies
            .insert(path.to_owned(), body);
    }

    fn redirect(&self, path: &str, location: String) {
        self.state
            .lock()
            .unwrap()
            .redirects
            .insert(path.to_owned(), location);
    }

    fn hits(&self, path: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

fn jwks(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

fn forged(kid: &str) -> String {
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}).to_string();
    format!(
        "{}.{}.{}",
        b64(header),
        b64(claims().to_string()),
        b64([7u8; 64])
    )
}

fn options(cooldown: Duration) -> RemoteOptions {
    RemoteOptions {
        cooldown,
        refresh_interval: Duration::from_secs(3600),
        ..RemoteOptions::default()
    }
}

async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    // Generous: the machine running the suite may be busy; a condition that holds is seen at
    // once, so only a failure waits this long.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_rotation_and_survives_issuer_outage() {
    let server = KeyServer::start().await;
    server.set("/jwks.json", jwks(&[ed()]));
    let url = format!("{}/jwks.json", server.base);
    let v = Verifier::from_url(&url, validation(), options(Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(v.fetch_count(), 1);
    assert_eq!(v.key_count(), 1);
    let token_a = ed().token(&claims());
    assert_eq!(v.verify(&token_a).unwrap().sub, "alice");

    // Rotation to a new kid: the first token is refused (no waiting on the network inside
    // verify) and triggers a refresh; shortly after it verifies.
    server.set("/jwks.json", jwks(&[ec()]));
    let token_b = ec().token(&claims());
    assert_eq!(v.verify(&token_b), Err(VerifyError::UnknownKey));
    eventually("new kid picked up", || v.verify(&token_b).is_ok()).await;
    assert!(v.fetch_count() >= 2);
    assert_eq!(
        v.verify(&token_a),
        Err(VerifyError::UnknownKey),
        "the removed key is no longer trusted"
    );

    // The issuer goes away: a refresh fails, the last good keys stay.
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(350)).await; // past the cool-down
    let fetches = v.fetch_count();
    assert_eq!(
        v.verify(&forged("rotated-again")),
        Err(VerifyError::UnknownKey)
    );
    eventually("failed refresh attempted", || v.fetch_count() > fetches).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(v.verify(&token_b).unwrap().sub, "alice");
    assert_eq!(v.key_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kids_cause_at_most_one_fetch_per_cooldown() {
    let server = KeyServer::start().await;
    server.set("/jwks.json", jwks(&[ed()]));
    let url = format!("{}/jwks.json", server.base);
    let v = Verifier::from_url(&url, validation(), options(Duration::from_secs(60)))
        .await
        .unwrap();
    let (before, hits_before) = (v.fetch_count(), server.hits("/jwks.json"));
    let started = Instant::now();
    for i in 0..1000 {
        assert_eq!(
            v.verify(&forged(&format!("random-{i}"))),
            Err(VerifyError::UnknownKey)
        );
    }
    let elapsed = started.elapsed();
    // The first unknown kid does trigger one refresh; the other 999 within the cool-down none.
    eventually("the one refresh", || v.fetch_count() == before + 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fetched = v.fetch_count() - before;
    let served = server.hits("/jwks.json") - hits_before;
    println!("remote: 1000 random kids -> {fetched} fetch(es), {served} request(s) served, verify loop {elapsed:?}");
    assert!(fetched <= 1, "{fetched} fetches for 1000 random kids");
    assert!(served <= 1, "{served} requests for 1000 random kids");
    // Clones share the cool-down.
    let clone = v.clone();
    assert_eq!(
        clone.verify(&forged("random-clone")),
        Err(VerifyError::UnknownKey)
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(clone.fetch_count() - before, 1);
    // The real key still works throughout.
    assert!(v.verify(&ed().token(&claims())).is_ok());
    server.stop().await;
}

#[tokio::test]
async fn discovery_document_is_followed() {
    let server = KeyServer::start().await;
    server.set("/keys", jwks(&[ed(), rsa()]));
    server.set(
        "/.well-known/openid-configuration",
        json!({"issuer": server.base, "jwks_uri": format!("{}/keys", server.base)}).to_string(),
    );
    server.set(
        "/relative/.well-known/openid-configuration",
        json!({"jwks_uri": "/keys"}).to_string(),
    );
    for path in [
        "/.well-known/openid-configuration",
        "/relative/.well-known/openid-configuration",
    ] {
        let v = Verifier::from_url(
            &format!("{}{path}", server.base),
            validation(),
            RemoteOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(v.key_count(), 2);
        assert_eq!(v.fetch_count(), 2, "discovery document + JWKS");
        assert!(v.verify(&rsa().token(&claims())).is_ok(), "{path}");
    }
    assert_eq!(server.hits("/keys"), 2);
    server.stop().await;
}

#[tokio::test]
async fn first_fetch_failures_are_errors() {
    let server = KeyServer::start().await;
    server.set("/neither", json!({"foo": 1}).to_string());
    server.set("/not-json", "<html>".to_owned());
    server.set(
        "/only-oct",
        json!({"keys": [{"kty": "oct", "k": b64([1u8; 32])}]}).to_string(),
    );
    server.set(
        "/bad-uri",
        json!({"jwks_uri": "file:///etc/passwd"}).to_string(),
    );
    server.set(
        "/big",
        format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(2 << 20)),
    );
    for path in [
        "/missing",
        "/neither",
        "/not-json",
        "/only-oct",
        "/bad-uri",
        "/big",
    ] {
        let result = Verifier::from_url(
            &format!("{}{path}", server.base),
            validation(),
            RemoteOptions::default(),
        )
        .await;
        assert!(
            matches!(result, Err(KeyError::Fetch { .. })),
            "{path}: {result:?}"
        );
    }
    assert_eq!(server.hits("/bad-uri"), 1);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let result = Verifier::from_url(
        &format!("http://{closed}/jwks.json"),
        validation(),
        RemoteOptions::default(),
    )
    .await;
    assert!(matches!(result, Err(KeyError::Fetch { .. })), "{result:?}");
    let result = Verifier::from_url(
        "ftp://example.test/jwks.json",
        validation(),
        RemoteOptions::default(),
    )
    .await;
    assert!(matches!(result, Err(KeyError::Fetch { .. })), "{result:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_refresh_runs_and_stops_with_the_last_clone() {
    let server = KeyServer::start().await;
    server.set("/jwks.json", jwks(&[ed()]));
    let options = RemoteOptions {
        refresh_interval: Duration::from_secs(1),
        ..RemoteOptions::default()
    };
    let v = Verifier::from_url(&format!("{}/jwks.json", server.base), validation(), options)
        .await
        .unwrap();
    // A rotation is picked up by the periodic refresh alone (no unknown kid needed).
    server.set("/jwks.json", jwks(&[ed(), ec()]));
    eventually("periodic refresh", || v.key_count() == 2).await;
    let clone = v.clone();
    drop(v);
    let hits = server.hits("/jwks.json");
    eventually("a living clone keeps the refresh going", || {
        server.hits("/jwks.json") > hits
    })
    .await;
    drop(clone);
    // A refresh already under way when the last clone went may still land; none after it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = server.hits("/jwks.json");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        server.hits("/jwks.json"),
        hits,
        "refresh task outlived the verifier"
    );
    server.stop().await;
}

/// Keys come over https, or plain http from loopback; anything else needs
/// `RemoteOptions::allow_http` (hardening round 3, item 11). `0.0.0.0` is not a loopback
/// address, yet Linux connects it to this machine, so the refusal is shown without any
/// traffic leaving it.
#[tokio::test]
async fn plain_http_is_for_loopback_only() {
    let server = KeyServer::start().await;
    server.set("/jwks.json", jwks(&[ed()]));
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let url = format!("http://0.0.0.0:{port}/jwks.json");
    let refused = Verifier::from_url(&url, validation(), RemoteOptions::default())
        .await
        .expect_err("plain http to a host that is not loopback is refused");
    assert!(refused.to_string().contains("https only"), "{refused}");
    assert_eq!(server.hits("/jwks.json"), 0, "nothing was fetched");
    let allowed = RemoteOptions {
        allow_http: true,
        ..RemoteOptions::default()
    };
    let v = Verifier::from_url(&url, validation(), allowed)
        .await
        .unwrap();
    assert_eq!(v.key_count(), 1);
    server.stop().await;
}

/// A redirect to another host is refused (here `127.0.0.1` → `localhost`, both this machine);
/// one on the same host is followed.
#[tokio::test]
async fn redirects_to_another_host_are_refused() {
    let server = KeyServer::start().await;
    server.set("/jwks.json", jwks(&[ed()]));
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    server.redirect("/moved", format!("http://localhost:{port}/jwks.json"));
    server.redirect("/here", "/jwks.json".to_owned());
    let refused = Verifier::from_url(
        &format!("{}/moved", server.base),
        validation(),
        RemoteOptions::default(),
    )
    .await
    .expect_err("a redirect to another host is refused");
    assert!(refused.to_string().contains("redirect"), "{refused}");
    assert_eq!(server.hits("/jwks.json"), 0);
    let v = Verifier::from_url(
        &format!("{}/here", server.base),
        validation(),
        RemoteOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(v.key_count(), 1);
    server.stop().await;
}

/// A URL's userinfo (a credential for the key endpoint) is never in an error or a log line.
#[tokio::test]
async fn a_urls_userinfo_is_never_shown() {
    let server = KeyServer::start().await;
    let url = server.base.replace("http://", "http://keys:s3cr3t-pw@") + "/missing.json";
    let error = Verifier::from_url(&url, validation(), RemoteOptions::default())
        .await
        .expect_err("404");
    let text = format!("{error} {error:?}");
    assert!(!text.contains("s3cr3t-pw"), "{text}");
    assert!(text.contains("missing.json"), "{text}");
    server.stop().await;
}
