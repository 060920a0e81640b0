//! Control characters in names (user names, service identifiers, client ids, organisations,
//! units) are refused at the request boundary, before the throttle, in every login style.
//!
//! Before: one `POST /token` with `username=a%00b` made PostgreSQL refuse the throttle's query
//! (`invalid byte sequence for encoding "UTF8": 0x00`); the throttle read that as an outage
//! and, with `on_store_error = "deny"`, every other user's login on that replica answered 503
//! until the probe saw the store again.

use base64::Engine;
use tokio::io::AsyncReadExt;

use crate::cli::Running;
use crate::helpers::*;

fn basic(user: &str, password: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b}")
}

/// One hostile request: where it goes, what it carries, and the field its answer names.
struct Hostile {
    path: &'static str,
    headers: Vec<(&'static str, Vec<u8>)>,
    json: Option<serde_json::Value>,
    form: Option<&'static str>,
    /// `/login`: the envelope's message; `/token`: the `error_description`.
    says: &'static str,
}

fn login_headers(pairs: &[(&'static str, &[u8])], says: &'static str) -> Hostile {
    Hostile {
        path: "/login",
        headers: pairs.iter().map(|(k, v)| (*k, v.to_vec())).collect(),
        json: None,
        form: None,
        says,
    }
}

fn login_json(json: serde_json::Value, says: &'static str) -> Hostile {
    Hostile {
        path: "/login",
        headers: vec![("Content-Type", b"application/json".to_vec())],
        json: Some(json),
        form: None,
        says,
    }
}

fn token(form: &'static str, authorization: Option<String>, says: &'static str) -> Hostile {
    let mut headers = vec![(
        "Content-Type",
        b"application/x-www-form-urlencoded".to_vec(),
    )];
    headers.extend(authorization.map(|a| ("Authorization", a.into_bytes())));
    Hostile {
        path: "/token",
        headers,
        json: None,
        form: Some(form),
        says,
    }
}

/// Every name field of every style, with a control character HTTP lets through to it: a tab
/// or a C1 character (UTF-8 `c2 85`) in a header, NUL and others in JSON, forms and Basic.
fn hostile_requests() -> Vec<Hostile> {
    let pw: &[u8] = PASSWORD.as_bytes();
    vec![
        login_headers(
            &[("User-Name", b"user\ttest"), ("Password", pw)],
            "Field User-Name holds a control character.",
        ),
        login_headers(
            &[("User-Name", "user\u{85}test".as_bytes()), ("Password", pw)],
            "Field User-Name holds a control character.",
        ),
        login_headers(
            &[
                ("User-Name", b"user_test"),
                ("Password", pw),
                ("Organisation", b"ac\tme"),
            ],
            "Field Organisation holds a control character.",
        ),
        login_headers(
            &[
                ("User-Name", b"user_test"),
                ("Password", pw),
                ("Unit", b"u\tnit"),
            ],
            "Field Unit holds a control character.",
        ),
        login_headers(
            &[("Identifier", b"ba\ttch"), ("Pass-Code", b"code")],
            "Field Identifier holds a control character.",
        ),
        login_headers(
            &[("Authorization", basic("a\u{0}b", PASSWORD).as_bytes())],
            "Field User-Name holds a control character.",
        ),
        login_json(
            serde_json::json!({"username": "a\u{0}b", "password": PASSWORD}),
            "Field username holds a control character.",
        ),
        login_json(
            serde_json::json!({"username": "user_test", "password": PASSWORD, "organisation": "\u{1}"}),
            "Field organisation holds a control character.",
        ),
        login_json(
            serde_json::json!({"username": "user_test", "password": PASSWORD, "unit": "x\u{7f}"}),
            "Field unit holds a control character.",
        ),
        login_json(
            serde_json::json!({"identifier": "\u{0}", "pass_code": "code"}),
            "Field identifier holds a control character.",
        ),
        token(
            "grant_type=password&username=a%00b&password=password_test",
            None,
            "The username parameter holds a control character.",
        ),
        token(
            "grant_type=password&username=user_test&password=password_test&organisation=%01",
            None,
            "The organisation parameter holds a control character.",
        ),
        token(
            "grant_type=password&username=user_test&password=password_test&unit=%7F",
            None,
            "The unit parameter holds a control character.",
        ),
        token(
            "grant_type=password&username=user_test&password=password_test&client_id=x%0Ay",
            None,
            "The client_id parameter holds a control character.",
        ),
        token(
            "grant_type=client_credentials&client_id=a%00b&client_secret=s",
            None,
            "The client_id parameter holds a control character.",
        ),
        token(
            "grant_type=client_credentials",
            Some(basic("a\u{0}b", "secret")),
            "The client_id in the Authorization header holds a control character.",
        ),
    ]
}

async fn send(client: &reqwest::Client, base: &str, h: &Hostile) -> reqwest::Response {
    let mut req = client.post(format!("{base}{}", h.path));
    for (name, value) in &h.headers {
        req = req.header(
            *name,
            reqwest::header::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    if let Some(json) = &h.json {
        req = req.body(json.to_string());
    }
    if let Some(form) = h.form {
        req = req.body(form);
    }
    req.send().await.unwrap()
}

/// What the answer to `h` must be: 400 naming the field, in the endpoint's envelope.
async fn assert_refused(h: &Hostile, res: reqwest::Response) {
    assert_eq!(res.status(), 400, "{}", h.says);
    let body: serde_json::Value = res.json().await.unwrap();
    if h.path == "/login" {
        assert_eq!(body["code"], 400, "{body}");
        assert_eq!(body["message"], h.says, "{body}");
    } else {
        assert_eq!(body["error"], "invalid_request", "{body}");
        assert_eq!(body["error_description"], h.says, "{body}");
    }
}

#[tokio::test]
async fn control_characters_in_names_are_refused_naming_the_field() {
    let app = spawn_app().await;
    for h in hostile_requests() {
        let res = send(&app.client, &app.base, &h).await;
        assert_refused(&h, res).await;
    }
    // Refused before the throttle: nothing was counted for any of them.
    assert_eq!(app.state.throttle.len(), (0, 0));
    assert_eq!(
        app.login(&Method::Post, "user_test", PASSWORD)
            .await
            .status(),
        200
    );
}

/// A metric's value in a `/metrics` text (0 when it has no sample).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A raw request whose header holds a NUL: HTTP forbids it, so actix-http answers 400 itself
/// (and used to log an ERROR line for it).
async fn raw_nul_header(base: &str) -> u16 {
    let addr = base.trim_start_matches("http://").parse().unwrap();
    let mut stream = send_raw(
        addr,
        &raw_login("a\u{0}b", PASSWORD, "Connection: close\r\n"),
    )
    .await;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The acceptance run: with the throttle's counters in SQLite or PostgreSQL and
/// `on_store_error = "deny"`, 100 requests with control characters in every field of
/// `/login` and `/token`, then 20 correct logins: every correct login 200, the store up
/// throughout, its error counter 0, no 500, and no ERROR line in the log.
#[tokio::test]
async fn control_characters_never_take_a_shared_throttle_down() {
    for store in database_stores() {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database(store, dir.path()).await;
        let users = dir.path().join("users.toml");
        std::fs::write(&users, users_toml()).unwrap();
        let config = dir.path().join("watchword.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nworkers = 1\n[users]\nfile = \"{}\"\n[password]\nworkers = 2\n\
                 [metrics]\nbind = \"127.0.0.1:0\"\n\
                 [database]\nurl = \"{url}\"\nconnect_timeout = \"2s\"\n\
                 [throttle]\nstore = \"database\"\non_store_error = \"deny\"\n",
                users.display()
            ),
        )
        .unwrap();
        let server = Running::start(&[("WATCHWORD_CONFIG", config.display().to_string())]);
        let client = reqwest::Client::new();
        let metrics = server.metrics_url().await;
        let store_state = || async {
            let text = client
                .get(&metrics)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            (
                metric(&text, "watchword_throttle_store_up"),
                metric(&text, "watchword_throttle_store_errors_total"),
            )
        };
        assert_eq!(store_state().await, (1.0, 0.0), "{store:?} at the start");
        let hostile = hostile_requests();
        for i in 0..100 {
            let h = &hostile[i % hostile.len()];
            let res = send(&client, &server.base, h).await;
            assert_refused(h, res).await;
            if i % 10 == 0 {
                assert_eq!(raw_nul_header(&server.base).await, 400, "{store:?}");
            }
            assert_eq!(
                store_state().await,
                (1.0, 0.0),
                "{store:?} after {}",
                h.says
            );
        }
        for _ in 0..20 {
            let res = client
                .post(format!("{}/login", server.base))
                .headers(creds("user_test", PASSWORD))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{store:?}");
        }
        assert_eq!(store_state().await, (1.0, 0.0), "{store:?} at the end");
        let log = server.stop();
        assert!(
            !log.lines().any(|l| l.contains("ERROR")),
            "{store:?}: an ERROR line in the log:\n{log}"
        );
    }
}
