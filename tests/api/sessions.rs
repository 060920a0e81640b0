//! Sessions (`[sessions]`): refresh tokens from every login, rotation with one
//! compare-and-set under concurrency (SQLite, PostgreSQL, and two server processes on one
//! PostgreSQL), the grace answer, reuse detection that revokes the session, account changes,
//! the throttle, and a forgery attempt with the whole sessions table in hand.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sqlx::{Connection, Row};

use crate::cli::Running;
use crate::helpers::*;
use crate::oauth::{basic_raw, form, oauth_users};

/// A refresh secret as `watchword keygen --alg HS256` writes it, in `dir`.
fn refresh_key(dir: &Path) -> PathBuf {
    let path = dir.join("refresh.key");
    let secret =
        watchword::token::signing_key::generate_pem(watchword::config::SigningAlgorithm::HS256)
            .unwrap();
    write_key(&path, &secret);
    path
}

fn sessions_config(key: &Path, extra: &str) -> String {
    format!(
        "[permissions]\nadmin = [\"read\", \"write\"]\n\
         [sessions]\nenabled = true\nrefresh_key_file = \"{}\"\n{extra}",
        key.display()
    )
}

/// A server on `store` with sessions on; the key's directory lives as long as the server.
pub async fn spawn_sessions(store: Store, extra: &str) -> (TestApp, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let key = refresh_key(keys.path());
    let app = spawn_with(Spec {
        store,
        users: oauth_users(),
        config: sessions_config(&key, extra),
        ..Spec::default()
    })
    .await;
    (app, keys)
}

pub async fn login_json(base: &str, client: &reqwest::Client, user: &str, password: &str) -> Value {
    let res = client
        .post(format!("{base}/login"))
        .headers(creds(user, password))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// `POST /refresh` with the token: (status, body).
pub async fn refresh_header(base: &str, client: &reqwest::Client, token: &str) -> (u16, String) {
    let res = client
        .post(format!("{base}/refresh"))
        .header("Refresh-Token", token)
        .send()
        .await
        .unwrap();
    status_body(res).await
}

/// `POST /token grant_type=refresh_token`: (status, body).
pub async fn refresh_grant(
    base: &str,
    client: &reqwest::Client,
    token: &str,
    extra: &[(&str, &str)],
) -> (u16, String) {
    let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    pairs.extend_from_slice(extra);
    let res = client
        .post(format!("{base}/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .unwrap();
    status_body(res).await
}

pub fn field(body: &str, name: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        .to_owned()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The session's counter as the database holds it.
async fn counter(url: &str) -> i64 {
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query("SELECT counter FROM sessions")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get::<i64, _>(0)
}

/// Every login style that earns a token earns a refresh token; `status`, `code`, `token`
/// stay as they were. The password grant answers one; client credentials never.
#[tokio::test]
async fn logins_answer_a_refresh_token_and_client_credentials_does_not() {
    let (app, _keys) = spawn_sessions(Store::Sqlite, "").await;
    let v = login_json(&app.base, &app.client, "user_test", PASSWORD).await;
    assert_eq!(v["status"], "ok");
    assert_eq!(v["code"], 200);
    assert!(v["token"].as_str().unwrap().split('.').count() == 3);
    assert!(v["refresh_token"].as_str().unwrap().split('.').count() == 4);

    let password = form(&[
        ("grant_type", "password"),
        ("username", "user_test"),
        ("password", PASSWORD),
    ]);
    let res = app
        .client
        .post(format!("{}/token", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(password)
        .send()
        .await
        .unwrap();
    let (status, body) = status_body(res).await;
    assert_eq!(status, 200, "{body}");
    assert!(!field(&body, "refresh_token").is_empty());

    let res = app
        .client
        .post(format!("{}/token", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", basic_raw("billing-batch", "pass-code-9"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let (status, body) = status_body(res).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("refresh_token"), "{body}");
}

/// Each refresh rotates; the token one step behind gets the current one (the same string)
/// within the grace interval; both endpoints; the new access token verifies.
#[tokio::test]
async fn refresh_rotates_and_one_step_behind_gets_the_same_token() {
    let (app, _keys) = spawn_sessions(Store::Sqlite, "").await;
    let r0 = field(
        &login_json(&app.base, &app.client, "user_test", PASSWORD)
            .await
            .to_string(),
        "refresh_token",
    );
    let (status, body) = refresh_header(&app.base, &app.client, &r0).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(field(&body, "status"), "ok");
    let r1 = field(&body, "refresh_token");
    assert_ne!(r1, r0);
    // A lost answer: R0 again gets R1 itself and a fresh access token.
    let (status, again) = refresh_header(&app.base, &app.client, &r0).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(field(&again, "refresh_token"), r1);
    // The OAuth grant with R1 rotates to R2.
    let (status, body) = refresh_grant(&app.base, &app.client, &r1, &[]).await;
    assert_eq!(status, 200, "{body}");
    let r2 = field(&body, "refresh_token");
    assert_ne!(r2, r1);
    assert_eq!(field(&body, "token_type"), "Bearer");
    let access = field(&body, "access_token");
    assert_eq!(claims(&access)["sub"], "user_test");
    let res = app
        .client
        .get(format!("{}/verify", app.base))
        .header("Authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(counter(app.database_url.as_deref().unwrap()).await, 2);
    let metrics = app.metrics().await.text().await.unwrap();
    for line in [
        "watchword_refresh_total{result=\"rotated\"} 2",
        "watchword_refresh_total{result=\"grace\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

/// 20 refreshes with the same token at once: exactly one rotation (the counter moved by
/// one, every 200 answers the same next token), every other answer the grace answer or
/// `invalid_grant`, never a 5xx; and the winner's token keeps working.
#[tokio::test]
async fn twenty_concurrent_refreshes_rotate_once() {
    for store in database_stores() {
        let (app, _keys) = spawn_sessions(store, "").await;
        let r0 = login_json(&app.base, &app.client, "user_test", PASSWORD).await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let next = race(std::slice::from_ref(&app.base), &r0).await;
        assert_eq!(counter(app.database_url.as_deref().unwrap()).await, 1);
        let (status, body) = refresh_grant(&app.base, &app.client, &next, &[]).await;
        assert_eq!(status, 200, "{store:?}: the winner's token: {body}");
    }
}

/// 20 refreshes of `token` at once, spread over `bases` and both endpoints; the one next
/// token they all agree on.
async fn race(bases: &[String], token: &str) -> String {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (client, base, token) = (
            client.clone(),
            bases[i % bases.len()].clone(),
            token.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            if i % 4 == 3 {
                refresh_header(&base, &client, &token).await
            } else {
                refresh_grant(&base, &client, &token, &[]).await
            }
        }));
    }
    let mut next = std::collections::BTreeSet::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            200 => {
                next.insert(field(&body, "refresh_token"));
            }
            400 => assert_eq!(field(&body, "error"), "invalid_grant", "{body}"),
            401 => assert_eq!(field(&body, "status"), "error", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(next.len(), 1, "one next token for every success: {next:?}");
    next.pop_first().unwrap()
}

/// The same race over two server processes sharing one PostgreSQL database (and one
/// refresh key): still one rotation, and the session goes on on the other process.
#[tokio::test]
async fn twenty_concurrent_refreshes_over_two_processes_rotate_once() {
    let Some(_) = postgres_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Store::Postgres, dir.path()).await;
    let key = refresh_key(dir.path());
    let users = dir.path().join("users.toml");
    std::fs::write(&users, oauth_users()).unwrap();
    let server = |tag: &str| {
        let config = dir.path().join(format!("{tag}.toml"));
        let text = format!(
            "[server]\nworkers = 2\n[users]\nfile = \"{}\"\n[password]\nworkers = 2\n\
             [database]\nurl = \"{url}\"\nconnect_timeout = \"10s\"\n{}",
            users.display(),
            sessions_config(&key, "")
        );
        std::fs::write(&config, text).unwrap();
        Running::start(&[("WATCHWORD_CONFIG", config.display().to_string())])
    };
    let (a, b) = (server("a"), server("b"));
    let client = reqwest::Client::new();
    let r0 = login_json(&a.base, &client, "user_test", PASSWORD).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let next = race(&[a.base.clone(), b.base.clone()], &r0).await;
    assert_eq!(counter(&url).await, 1);
    let (status, body) = refresh_grant(&b.base, &client, &next, &[]).await;
    assert_eq!(status, 200, "on the other process: {body}");
}

/// With no grace (reuse_interval 0), a replayed old token revokes the session: the newest
/// token is refused afterwards. Refusals are the same bytes whatever the reason.
#[tokio::test]
async fn reuse_outside_the_grace_window_revokes_the_session() {
    for store in database_stores() {
        let (app, _keys) = spawn_sessions(store, "reuse_interval = \"0s\"\n").await;
        let r0 = login_json(&app.base, &app.client, "user_test", PASSWORD).await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, body) = refresh_grant(&app.base, &app.client, &r0, &[]).await;
        assert_eq!(status, 200, "{body}");
        let r1 = field(&body, "refresh_token");
        let garbage = refresh_grant(&app.base, &app.client, "not-a-token", &[]).await;
        assert_eq!(garbage.0, 400);
        assert_eq!(field(&garbage.1, "error"), "invalid_grant");
        // The replay: the same answer as garbage, and the session is gone.
        assert_eq!(
            refresh_grant(&app.base, &app.client, &r0, &[]).await,
            garbage
        );
        assert_eq!(
            refresh_grant(&app.base, &app.client, &r1, &[]).await,
            garbage,
            "{store:?}: the newest token after a replay"
        );
        let (status, body) = refresh_header(&app.base, &app.client, &r1).await;
        assert_eq!(status, 401);
        assert_eq!(
            body,
            refresh_header(&app.base, &app.client, "not-a-token")
                .await
                .1
        );
        let mut conn = sqlx::AnyConnection::connect(app.database_url.as_deref().unwrap())
            .await
            .unwrap();
        let reason: String = sqlx::query("SELECT revoked_reason FROM sessions")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(reason, "reuse");
    }
}

/// The account is read at every refresh: roles changed → new claims; password changed or
/// account disabled → refused (and the session is over).
#[tokio::test]
async fn refresh_reads_the_account_again() {
    let (app, _keys) = spawn_sessions(Store::Sqlite, "").await;
    let url = app.database_url.clone().unwrap();
    let settings = watchword::config::Settings::load(Some(&app.config_path)).unwrap();
    let db = watchword::login::users::database::UserDb::new(
        watchword::database::Database::open(&settings.database).unwrap(),
    );
    let r0 = login_json(&app.base, &app.client, "user_test", PASSWORD).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut user = db.get(false, "user_test").unwrap().unwrap();
    user.roles = vec!["auditor".into()];
    let roles = watchword::login::users::database::Columns {
        roles: true,
        ..Default::default()
    };
    assert!(db.update(&user, roles).unwrap());
    let (status, body) = refresh_grant(&app.base, &app.client, &r0, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(&field(&body, "access_token"))["roles"],
        serde_json::json!(["auditor"])
    );
    let r1 = field(&body, "refresh_token");
    assert!(db
        .set_hash(false, "user_test", &hash("a new password"))
        .unwrap());
    let (status, body) = refresh_grant(&app.base, &app.client, &r1, &[]).await;
    assert_eq!(
        (status, field(&body, "error").as_str()),
        (400, "invalid_grant")
    );
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let reason: String = sqlx::query("SELECT revoked_reason FROM sessions")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(reason, "account");

    // Disabled: a new session, then the account is disabled.
    let r0 = login_json(&app.base, &app.client, "user_test", "a new password").await
        ["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(db.set_disabled(false, "user_test", true).unwrap());
    let (status, _) = refresh_header(&app.base, &app.client, &r0).await;
    assert_eq!(status, 401);
}

/// A session of a confidential client is refreshed by that client only (401 invalid_client
/// without it); a requested scope may only narrow the session's.
#[tokio::test]
async fn refresh_is_bound_to_the_client_and_scope() {
    let (app, _keys) = spawn_sessions(Store::Sqlite, "").await;
    let res = app
        .client
        .post(format!("{}/token", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", basic_raw("billing-batch", "pass-code-9"))
        .body(form(&[
            ("grant_type", "password"),
            ("username", "user_test"),
            ("password", PASSWORD),
            ("scope", "read write"),
        ]))
        .send()
        .await
        .unwrap();
    let (status, body) = status_body(res).await;
    assert_eq!(status, 200, "{body}");
    let r0 = field(&body, "refresh_token");
    let (status, body) = refresh_grant(&app.base, &app.client, &r0, &[]).await;
    assert_eq!(
        (status, field(&body, "error").as_str()),
        (401, "invalid_client")
    );
    let res = app
        .client
        .post(format!("{}/token", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", basic_raw("billing-batch", "pass-code-9"))
        .body(form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r0),
            ("scope", "read delete"),
        ]))
        .send()
        .await
        .unwrap();
    let (status, body) = status_body(res).await;
    assert_eq!(
        (status, field(&body, "error").as_str()),
        (400, "invalid_scope")
    );
    let res = app
        .client
        .post(format!("{}/token", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", basic_raw("billing-batch", "pass-code-9"))
        .body(form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r0),
            ("scope", "read"),
        ]))
        .send()
        .await
        .unwrap();
    let (status, body) = status_body(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(field(&body, "scope"), "read");
    let access = claims(&field(&body, "access_token"));
    assert_eq!(access["scope"], "read");
}

/// Refresh failures count in the throttle per client address: past the budget, even a
/// valid refresh from that address gets 429.
#[tokio::test]
async fn refresh_failures_are_throttled_per_address() {
    let (app, _keys) = spawn_sessions(
        Store::Sqlite,
        "[throttle]\nmax_failures_per_user = 3\nmax_failures_per_ip = 3\n",
    )
    .await;
    let r0 = login_json(&app.base, &app.client, "user_test", PASSWORD).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        let (status, _) = refresh_header(&app.base, &app.client, "guess").await;
        assert_eq!(status, 401);
    }
    let (status, body) = refresh_header(&app.base, &app.client, &r0).await;
    assert_eq!(status, 429, "{body}");
}

/// With the whole sessions table dumped (every column) and an old refresh token captured,
/// nothing minted without the refresh key is accepted: not the old MAC on the current
/// counter, not MACs under keys made of anything the dump holds. The session is untouched
/// by the attempts (its current token still rotates).
#[tokio::test]
async fn a_database_dump_and_an_old_token_cannot_mint_a_refresh_token() {
    let (app, _keys) = spawn_sessions(
        Store::Sqlite,
        "[throttle]\nmax_failures_per_user = 1000\nmax_failures_per_ip = 1000\n",
    )
    .await;
    let r0 = login_json(&app.base, &app.client, "user_test", PASSWORD).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = refresh_grant(&app.base, &app.client, &r0, &[]).await;
    let r1 = field(&body, "refresh_token");

    let mut conn = sqlx::AnyConnection::connect(app.database_url.as_deref().unwrap())
        .await
        .unwrap();
    let row = sqlx::query(
        "SELECT id, user_name, service, client_id, confidential, scope, organisation, unit, \
         credential, counter, created_at, last_used_at, rotated_at FROM sessions",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let id: String = row.get(0);
    let current: i64 = row.get(9);
    let mut known: Vec<String> = vec![id.clone(), row.get(1), row.get(8)];
    for i in [2, 4, 9, 10, 11, 12] {
        known.push(row.get::<i64, _>(i).to_string());
    }
    let parts: Vec<&str> = r0.split('.').collect();
    // The dump holds no token, nor any token's MAC.
    let mac1 = r1.rsplit('.').next().unwrap();
    for value in &known {
        assert!(
            !value.contains(mac1) && !value.contains(parts[3]),
            "{value}"
        );
    }
    let kid = parts[0];
    let mut forged = vec![
        // The old MAC on the current (and the next) counter.
        format!("{kid}.{id}.{current}.{}", parts[3]),
        format!("{kid}.{id}.{}.{}", current + 1, parts[3]),
    ];
    // MACs under every key the dump (and the token) could suggest, in the token's own shape.
    let mut candidates: Vec<Vec<u8>> = known.iter().map(|k| k.as_bytes().to_vec()).collect();
    candidates.push(Vec::new());
    candidates.push(kid.as_bytes().to_vec());
    candidates.push(known.concat().into_bytes());
    for key in candidates {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
        for counter in [current, current + 1] {
            let mut m = b"watchword refresh token v1\0".to_vec();
            m.extend_from_slice(format!("{kid}.{id}.{counter}").as_bytes());
            let tag = aws_lc_rs::hmac::sign(&key, &m);
            forged.push(format!(
                "{kid}.{id}.{counter}.{}",
                URL_SAFE_NO_PAD.encode(tag.as_ref())
            ));
        }
    }
    let garbage = refresh_grant(&app.base, &app.client, "not-a-token", &[]).await;
    for token in &forged {
        assert_ne!(token, &r1);
        assert_eq!(
            refresh_grant(&app.base, &app.client, token, &[]).await,
            garbage,
            "{token}"
        );
    }
    let (status, body) = refresh_grant(&app.base, &app.client, &r1, &[]).await;
    assert_eq!(status, 200, "the real token after the forgeries: {body}");
}
