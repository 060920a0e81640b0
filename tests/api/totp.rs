//! TOTP (RFC 6238) on the database stores, with codes from Debian's `oathtool` (OATH
//! Toolkit), an implementation nobody here wrote: every login style, replay (the same code
//! twice, 20 concurrent requests, two server processes on one PostgreSQL), the enrolment code
//! that cannot be the first login's, single-use recovery codes, `totp.required_roles`, and a
//! database that holds only ciphertext.
//!
//! Without `oathtool` these tests are skipped with a note, except in CI (`CI=true`), where
//! they fail: `tests/support/oathtool.sh` installs it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{json, Value};

use crate::cli::Running;
use crate::helpers::*;
use crate::oauth::{basic_raw, claims_of, form};

const BIN: &str = env!("CARGO_BIN_EXE_watchword");

/// The people of these tests (all with [`PASSWORD`]), besides those of [`users_toml`].
const PEOPLE: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

/// True when `oathtool` runs; a note (or, in CI, a failure) when it does not.
fn have_oathtool() -> bool {
    let found = Command::new("oathtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true and oathtool is missing: run tests/support/oathtool.sh"
        );
        eprintln!("note: oathtool is not installed, skipping (bash tests/support/oathtool.sh)");
    }
    found
}

/// oathtool's TOTP code of the base32 `secret` at Unix time `at`.
fn oathtool(secret: &str, at: u64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "--base32", "--now", &format!("@{at}"), secret])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn people_toml() -> String {
    let mut text = users_toml();
    for name in PEOPLE {
        text.push_str(&format!(
            "\n[[users]]\nname = \"{name}\"\npassword_hash = \"{}\"\n",
            hash(PASSWORD)
        ));
    }
    text
}

/// A server on `store` with a TOTP key (written next to the config) and `extra` config.
async fn totp_app(store: Store, extra: &str) -> (TestApp, PathBuf) {
    let keys = tempfile::tempdir().unwrap().keep();
    let key = keys.join("totp.key");
    watchword::login::totp::key::write_new_key(&key).unwrap();
    let app = spawn_with(Spec {
        store,
        users: people_toml(),
        config: format!("[keys]\ntotp_key_file = \"{}\"\n{extra}", key.display()),
        ..Spec::default()
    })
    .await;
    (app, key)
}

async fn post_json(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// Self-service enrolment of `name`: its base32 secret. The confirming code is the one of
/// the step of `at`.
async fn enroll(app: &TestApp, name: &str, at: u64) -> String {
    let token = app.token(name, PASSWORD).await;
    let res = post_json(app, "/totp/enroll", &token, json!({})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap().to_owned();
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with(&format!("otpauth://totp/watchword:{name}?secret={secret}&")),
        "{uri}"
    );
    let ticket = body["ticket"].as_str().unwrap();
    assert!(!ticket.contains(&secret));
    let confirm = json!({"ticket": ticket, "otp": oathtool(&secret, at)});
    let res = post_json(app, "/totp/confirm", &token, confirm).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    secret
}

/// How a login is sent.
#[derive(Clone, Copy, Debug)]
enum Style {
    /// `User-Name`, `Password` and `One-Time-Password` headers.
    Headers,
    /// JSON `{"username", "password", "otp"}`.
    Json,
    /// HTTP Basic with `password:code` (`totp.password_suffix`).
    BasicSuffix,
    /// `POST /token`, `grant_type=password` with `otp`.
    Token,
}

async fn login(app: &TestApp, style: Style, name: &str, otp: Option<&str>) -> reqwest::Response {
    let url = format!("{}/login", app.base);
    let req = match style {
        Style::Headers => {
            let mut req = app.client.post(url).headers(creds(name, PASSWORD));
            if let Some(otp) = otp {
                req = req.header("One-Time-Password", otp);
            }
            req
        }
        Style::Json => {
            let mut body = json!({"username": name, "password": PASSWORD});
            if let Some(otp) = otp {
                body["otp"] = otp.into();
            }
            app.client
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.to_string())
        }
        Style::BasicSuffix => {
            let password = match otp {
                Some(otp) => format!("{PASSWORD}:{otp}"),
                None => PASSWORD.to_owned(),
            };
            app.client
                .post(url)
                .header("Authorization", basic_raw(name, &password))
        }
        Style::Token => {
            let mut pairs = vec![
                ("grant_type", "password"),
                ("username", name),
                ("password", PASSWORD),
            ];
            if let Some(otp) = otp {
                pairs.push(("otp", otp));
            }
            app.client
                .post(format!("{}/token", app.base))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(&pairs))
        }
    };
    req.send().await.unwrap()
}

/// The token of a 200 answer (`token` or `access_token`).
async fn token_of(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body.get("token")
        .or(body.get("access_token"))
        .and_then(Value::as_str)
        .unwrap()
        .to_owned()
}

/// Every style: a right password without a code asks for one, the enrolment's code and a
/// wrong code get the uniform refusal, oathtool's next code logs in with `amr` pwd+otp, and
/// the same code again is refused; an account without TOTP keeps `amr` pwd.
#[tokio::test]
async fn oathtool_codes_log_in_on_every_style_once() {
    if !have_oathtool() {
        return;
    }
    for store in database_stores() {
        let (app, _key) = totp_app(store, "[totp]\npassword_suffix = true\n").await;
        let wrong_password = status_body(app.login(&Method::Post, "alice", "nope").await).await;
        let styles = [
            Style::Headers,
            Style::Json,
            Style::BasicSuffix,
            Style::Token,
        ];
        for (style, name) in styles.into_iter().zip(PEOPLE) {
            let t = now();
            let secret = enroll(&app, name, t).await;
            let is_token = matches!(style, Style::Token);

            let (status, body) = status_body(login(&app, style, name, None).await).await;
            if is_token {
                assert_eq!(status, 400, "{style:?} {store:?}");
                let body: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(body["error"], "invalid_grant");
                assert_eq!(body["error_description"], "One-time password required.");
            } else {
                assert_eq!(status, 401, "{style:?} {store:?}");
                let body: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(body["message"], "One-time password required.");
            }

            // The enrolment's own code, and a wrong one: the answer of a wrong password.
            let uniform = |(status, body): (u16, String)| {
                if is_token {
                    assert_eq!(status, 400, "{style:?}");
                    assert!(body.contains("\"invalid_grant\""), "{body}");
                    assert!(body.contains("Invalid user name or password."), "{body}");
                } else {
                    assert_eq!((status, body), wrong_password.clone(), "{style:?}");
                }
            };
            let enrolment_code = oathtool(&secret, t);
            uniform(status_body(login(&app, style, name, Some(&enrolment_code)).await).await);
            let code = oathtool(&secret, t + 30);
            let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
            uniform(status_body(login(&app, style, name, Some(&wrong)).await).await);

            let token = token_of(login(&app, style, name, Some(&code)).await).await;
            assert_eq!(claims_of(&token)["amr"], json!(["pwd", "otp"]), "{style:?}");
            uniform(status_body(login(&app, style, name, Some(&code)).await).await);
        }
        let plain = app.token("spacey", SPACED).await;
        assert_eq!(claims_of(&plain)["amr"], json!(["pwd"]));
        let metrics = app.metrics().await.text().await.unwrap();
        for result in ["accepted", "missing", "replayed", "wrong"] {
            assert!(
                metrics.contains(&format!("watchword_totp_total{{result=\"{result}\"}}")),
                "{result}: {metrics}"
            );
        }
    }
}

/// A wrong code, a missing one and a reused one are each one failure of the pair: after five,
/// even the right password with the right code is throttled (429).
#[tokio::test]
async fn wrong_codes_count_against_the_throttle() {
    if !have_oathtool() {
        return;
    }
    let (app, _key) = totp_app(Store::Sqlite, "").await;
    let t = now();
    let secret = enroll(&app, "alice", t).await;
    let code = oathtool(&secret, t + 30);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let enrolment_code = oathtool(&secret, t);
    for otp in [
        Some(wrong.as_str()),
        None,
        Some(&enrolment_code),
        Some(&wrong),
        None,
    ] {
        let status = login(&app, Style::Headers, "alice", otp).await.status();
        assert_eq!(status, 401, "{otp:?}");
    }
    let res = login(&app, Style::Headers, "alice", Some(&code)).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
}

/// 20 concurrent logins with one code: exactly one token (the step's compare-and-set).
#[tokio::test]
async fn twenty_concurrent_logins_with_one_code_get_one_token() {
    if !have_oathtool() {
        return;
    }
    for store in database_stores() {
        // Every request reaches the code: no throttle, and room in the hashing queue for all.
        let extra = "[throttle]\nenabled = false\n[password]\nqueue = 64\n";
        let (app, _key) = totp_app(store, extra).await;
        let t = now();
        let secret = enroll(&app, "alice", t).await;
        let code = oathtool(&secret, t + 30);
        let statuses = at_once(&app.client, &vec![app.base.clone(); 20], "alice", &code).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{store:?}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 401),
            "{statuses:?}"
        );
    }
}

/// One header login per base URL, all sent at once (each in a task of its own): the statuses.
async fn at_once(client: &reqwest::Client, bases: &[String], name: &str, code: &str) -> Vec<u16> {
    let tasks: Vec<_> = bases
        .iter()
        .map(|base| {
            let request = client
                .post(format!("{base}/login"))
                .headers(creds(name, PASSWORD))
                .header("One-Time-Password", code);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

/// Two server processes on one PostgreSQL, 10 requests each with the same code at once:
/// exactly one token between them.
#[tokio::test]
async fn two_server_processes_on_one_postgres_accept_a_code_once() {
    if !have_oathtool() || postgres_url().is_none() {
        return;
    }
    let (app, key) = totp_app(Store::Postgres, "").await;
    let t = now();
    let secret = enroll(&app, "alice", t).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("replica.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nworkers = 1\n[users]\nstore = \"database\"\n[password]\nworkers = 2\nqueue = 64\n\
             [database]\nurl = \"{}\"\n[keys]\ntotp_key_file = \"{}\"\n\
             [throttle]\nenabled = false\n",
            app.database_url.as_deref().unwrap(),
            key.display()
        ),
    )
    .unwrap();
    let env = [("WATCHWORD_CONFIG", config.display().to_string())];
    let (a, b) = (Running::start(&env), Running::start(&env));
    let code = oathtool(&secret, t + 30);
    let bases: Vec<String> = (0..20)
        .map(|i| {
            if i % 2 == 0 {
                a.base.clone()
            } else {
                b.base.clone()
            }
        })
        .collect();
    let statuses = at_once(&reqwest::Client::new(), &bases, "alice", &code).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}\nA: {}\nB: {}",
        a.stop(),
        b.stop()
    );
}

/// Run `watchword --config CONFIG users totp ARGS…`; `answer` computes the stdin line from
/// what the command printed first (the otpauth URI).
fn cli_totp(config: &Path, args: &[&str], answer: impl FnOnce(&str) -> String) -> (i32, String) {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["users", "totp"])
        .args(args)
        .env_remove("WATCHWORD_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let line = answer(first.trim());
    let _ = child.stdin.take().unwrap().write_all(line.as_bytes());
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(out.stdout.is_empty());
    (
        out.status.code().unwrap(),
        format!("{first}{rest}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

/// The base32 secret of an `otpauth://` URI.
fn secret_of(uri: &str) -> String {
    uri.split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

/// `users totp enroll`: a wrong code leaves TOTP off (exit 1); a right one turns it on, and
/// that code cannot log in; `users totp recovery` prints 10 codes, each good once;
/// `users totp disable` turns it off.
#[tokio::test]
async fn the_cli_enrols_with_a_code_and_recovery_codes_work_once() {
    if !have_oathtool() {
        return;
    }
    let (app, _key) = totp_app(Store::Sqlite, "").await;
    let config = app.config_path.clone();
    let (code, out) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || cli_totp(&config, &["enroll", "alice"], |_| "000000\n".into())
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("wrong code: TOTP stays off"), "{out}");
    assert_eq!(
        login(&app, Style::Headers, "alice", None).await.status(),
        200
    );

    let t = now();
    let (code, out) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            cli_totp(&config, &["enroll", "alice"], |uri| {
                format!("{}\n", oathtool(&secret_of(uri), t))
            })
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains('█') || out.contains('▀'), "a QR code: {out}");
    let secret = secret_of(out.lines().next().unwrap());
    let enrolment_code = oathtool(&secret, t);
    assert_eq!(
        login(&app, Style::Headers, "alice", None).await.status(),
        401
    );
    assert_eq!(
        login(&app, Style::Headers, "alice", Some(&enrolment_code))
            .await
            .status(),
        401,
        "the enrolment's code cannot be the first login's"
    );
    let next = oathtool(&secret, t + 30);
    assert_eq!(
        login(&app, Style::Headers, "alice", Some(&next))
            .await
            .status(),
        200
    );

    let (code, out) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || cli_totp(&config, &["recovery", "alice"], |_| String::new())
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    let codes: Vec<&str> = out
        .lines()
        .filter(|l| l.len() == 14 && l.matches('-').count() == 2)
        .collect();
    assert_eq!(codes.len(), 10, "{out}");
    let token = token_of(login(&app, Style::Json, "alice", Some(codes[3])).await).await;
    assert_eq!(claims_of(&token)["amr"], json!(["pwd", "otp"]));
    assert_eq!(
        login(&app, Style::Json, "alice", Some(codes[3]))
            .await
            .status(),
        401,
        "used once"
    );
    assert_eq!(
        login(&app, Style::Headers, "alice", Some(codes[4]))
            .await
            .status(),
        200
    );

    let (code, out) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || cli_totp(&config, &["disable", "alice"], |_| String::new())
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    let token = token_of(login(&app, Style::Headers, "alice", None).await).await;
    assert_eq!(claims_of(&token)["amr"], json!(["pwd"]));

    // A removed account's TOTP goes with it: a new account of the same name starts without.
    let secret = enroll(&app, "bob", now()).await;
    assert!(!secret.is_empty());
    for args in [vec!["users", "remove", "bob"], vec!["users", "add", "bob"]] {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .args(&args)
            .env_remove("WATCHWORD_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(PASSWORD.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let token = token_of(login(&app, Style::Headers, "bob", None).await).await;
    assert_eq!(claims_of(&token)["amr"], json!(["pwd"]));
}

/// `totp.required_roles`: an account of such a role without TOTP gets 403 in the envelope
/// (`/token`: invalid_grant); others log in; once enrolled (by the CLI), it logs in with a code.
#[tokio::test]
async fn required_roles_refuse_accounts_without_totp() {
    if !have_oathtool() {
        return;
    }
    let (app, _key) = totp_app(Store::Sqlite, "[totp]\nrequired_roles = [\"admin\"]\n").await;
    let (status, body) = status_body(app.login(&Method::Post, "user_test", PASSWORD).await).await;
    assert_eq!(status, 403);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({"status": "error", "code": 403, "message": "One-time password enrolment required."})
    );
    let (status, body) = status_body(login(&app, Style::Token, "user_test", None).await).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("One-time password enrolment required."),
        "{body}"
    );
    assert_eq!(
        app.login(&Method::Post, "user_test", "wrong")
            .await
            .status(),
        401
    );
    assert_eq!(
        login(&app, Style::Headers, "alice", None).await.status(),
        200
    );

    let t = now();
    let config = app.config_path.clone();
    let (code, out) = tokio::task::spawn_blocking(move || {
        cli_totp(&config, &["enroll", "user_test"], |uri| {
            format!("{}\n", oathtool(&secret_of(uri), t))
        })
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    let secret = secret_of(out.lines().next().unwrap());
    let code = oathtool(&secret, t + 30);
    assert_eq!(
        login(&app, Style::Headers, "user_test", Some(&code))
            .await
            .status(),
        200
    );
}

/// Self-service refusals: no token, a ticket of another account, a wrong code, a second
/// enrolment.
#[tokio::test]
async fn self_service_checks_the_token_the_ticket_and_the_code() {
    if !have_oathtool() {
        return;
    }
    let (app, _key) = totp_app(Store::Sqlite, "").await;
    let res = app
        .client
        .post(format!("{}/totp/enroll", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let (alice, bob) = (
        app.token("alice", PASSWORD).await,
        app.token("bob", PASSWORD).await,
    );
    let body: Value = post_json(&app, "/totp/enroll", &alice, json!({}))
        .await
        .json()
        .await
        .unwrap();
    let (secret, ticket) = (
        body["secret"].as_str().unwrap(),
        body["ticket"].as_str().unwrap(),
    );
    let code = oathtool(secret, now());
    let res = post_json(
        &app,
        "/totp/confirm",
        &bob,
        json!({"ticket": ticket, "otp": code}),
    )
    .await;
    assert_eq!(res.status(), 400, "bob cannot confirm alice's ticket");
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let res = post_json(
        &app,
        "/totp/confirm",
        &alice,
        json!({"ticket": ticket, "otp": wrong}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let res = post_json(
        &app,
        "/totp/confirm",
        &alice,
        json!({"ticket": ticket, "otp": code}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = post_json(&app, "/totp/enroll", &alice, json!({})).await;
    assert_eq!(res.status(), 409);
    // Bob never confirmed: he still logs in with his password alone.
    assert_eq!(login(&app, Style::Headers, "bob", None).await.status(), 200);
}

/// What a database dump holds: no secret (the column is AES-GCM ciphertext under the key
/// file, which alone opens it) and no recovery code.
#[tokio::test]
async fn a_database_dump_reveals_no_secret() {
    if !have_oathtool() {
        return;
    }
    let (app, key) = totp_app(Store::Sqlite, "").await;
    let secret = enroll(&app, "alice", now()).await;
    let config = app.config_path.clone();
    let (code, out) = tokio::task::spawn_blocking(move || {
        cli_totp(&config, &["recovery", "alice"], |_| String::new())
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    let recovery: Vec<String> = out
        .lines()
        .filter(|l| l.len() == 14)
        .map(|l| l.replace('-', ""))
        .collect();
    assert_eq!(recovery.len(), 10);

    // The whole file, as a backup would copy it.
    let path = app
        .database_url
        .as_deref()
        .unwrap()
        .trim_start_matches("sqlite://")
        .to_owned();
    let dump = std::fs::read(&path).unwrap();
    let raw = base32_decode(&secret);
    let dump_text = String::from_utf8_lossy(&dump).to_lowercase();
    for shown in [
        secret.to_lowercase(),
        hex(&raw),
        base64::engine::general_purpose::STANDARD
            .encode(&raw)
            .to_lowercase(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(&raw)
            .to_lowercase(),
    ] {
        assert!(
            !dump_text.contains(&shown),
            "the dump holds the secret as {shown}"
        );
    }
    assert!(
        !dump.windows(raw.len()).any(|w| w == raw),
        "the dump holds the raw secret"
    );
    for code in &recovery {
        assert!(
            !dump_text.contains(code.as_str()),
            "the dump holds recovery code {code}"
        );
    }

    // The column opens with the key file, for this account only.
    let mut conn =
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{path}"))
            .await
            .unwrap();
    let sealed: String = sqlx::query_scalar("SELECT secret FROM totp WHERE name = 'alice'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let key = watchword::login::totp::key::TotpKey::from_file(&key).unwrap();
    let opened = key.open_secret("alice", &sealed).unwrap();
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&opened),
        raw.as_slice()
    );
    assert!(key.open_secret("bob", &sealed).is_err());
    let other = watchword::login::totp::key::TotpKey::from_bytes(&[9u8; 32]).unwrap();
    assert!(other.open_secret("alice", &sealed).is_err());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 4648 base32 (upper case, no padding), for the test's own view of the secret.
fn base32_decode(text: &str) -> Vec<u8> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {text}"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// With the users file, the start stops at any TOTP setting, naming it (the binary, as
/// operators start it); without `oathtool` too, since no code is made.
#[test]
fn the_file_store_refuses_totp_settings_naming_the_key() {
    crate::cli::assert_refuses(
        &[("WATCHWORD__KEYS__TOTP_KEY_FILE", "/etc/watchword/totp.key")],
        "keys.totp_key_file: TOTP needs users.store = \"database\"",
    );
    crate::cli::assert_refuses(
        &[("WATCHWORD__TOTP__REQUIRED_ROLES", "admin,ops")],
        "totp.required_roles: TOTP needs users.store = \"database\"",
    );
}

/// Another server on `app`'s database (its accounts as they are) with `keys` config.
async fn replica(app: &TestApp, keys: &str) -> TestApp {
    let url = app.database_url.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        store: Store::File,
        users: String::new(),
        config: format!("{}[keys]\n{keys}", store_config(Store::Sqlite, Some(&url))),
        ..Spec::default()
    };
    let path = crate::helpers::write_config(dir.path(), &spec);
    let settings = watchword::config::Settings::load(Some(&path)).unwrap();
    let built = watchword::startup::Application::build(&settings).unwrap();
    let addr = built.addr();
    let state = built.state();
    tokio::spawn(built.run_until_stopped());
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        _dir: dir,
        state,
        metrics_base: None,
        database_url: Some(url),
        config_path: path,
    }
}

/// Rotation: with the old key in `keys.totp_old_key_files`, secrets and recovery codes sealed
/// under it still work, and a login seals its secret anew with the new key (which alone then
/// opens it); without the old key, such an account's logins are refused, never let in.
#[tokio::test]
async fn a_rotated_key_still_opens_old_secrets_and_reseals_them() {
    if !have_oathtool() {
        return;
    }
    let (app, old) = totp_app(Store::Sqlite, "").await;
    let t = now();
    let (alice, bob) = (enroll(&app, "alice", t).await, enroll(&app, "bob", t).await);
    let config = app.config_path.clone();
    let (code, out) = tokio::task::spawn_blocking(move || {
        cli_totp(&config, &["recovery", "alice"], |_| String::new())
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    let recovery: Vec<String> = out
        .lines()
        .filter(|l| l.len() == 14)
        .map(str::to_owned)
        .collect();

    let new = old.with_file_name("totp-new.key");
    watchword::login::totp::key::write_new_key(&new).unwrap();
    let rotated = replica(
        &app,
        &format!(
            "totp_key_file = \"{}\"\ntotp_old_key_files = [\"{}\"]\n",
            new.display(),
            old.display()
        ),
    )
    .await;
    let code = oathtool(&alice, t + 30);
    assert_eq!(
        login(&rotated, Style::Headers, "alice", Some(&code))
            .await
            .status(),
        200
    );
    assert_eq!(
        login(&rotated, Style::Json, "alice", Some(&recovery[0]))
            .await
            .status(),
        200
    );

    let path = app
        .database_url
        .as_deref()
        .unwrap()
        .trim_start_matches("sqlite://")
        .to_owned();
    let mut conn =
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{path}"))
            .await
            .unwrap();
    let sealed: String = sqlx::query_scalar("SELECT secret FROM totp WHERE name = 'alice'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let new_key = watchword::login::totp::key::TotpKey::from_file(&new).unwrap();
    assert!(
        sealed.starts_with(&format!("{}:", new_key.kid())),
        "{sealed}"
    );
    let opened = new_key.open_secret("alice", &sealed).unwrap();
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&opened),
        base32_decode(&alice).as_slice()
    );

    // Bob's secret is still under the old key: without it, his login is refused.
    let only_new = replica(&app, &format!("totp_key_file = \"{}\"\n", new.display())).await;
    let code = oathtool(&bob, t + 30);
    let (status, body) =
        status_body(login(&only_new, Style::Headers, "bob", Some(&code)).await).await;
    assert_eq!(status, 500, "{body}");
}

/// With sessions on, a login that passed a one-time password starts a session whose
/// refreshes keep `amr` `["pwd", "otp"]`; a password-only login's refreshes say `["pwd"]`
/// (issue 27: "a refresh keeps the amr of its login").
#[tokio::test]
async fn a_refresh_keeps_the_amr_of_its_login() {
    if !have_oathtool() {
        return;
    }
    let keys = tempfile::tempdir().unwrap().keep();
    let refresh_key = keys.join("refresh.key");
    let secret =
        watchword::token::signing_key::generate_pem(watchword::config::SigningAlgorithm::HS256)
            .unwrap();
    write_key(&refresh_key, &secret);
    let sessions = format!(
        "[sessions]\nenabled = true\nrefresh_key_file = \"{}\"\n",
        refresh_key.display()
    );
    let (app, _key) = totp_app(Store::Sqlite, &sessions).await;
    let at = now();
    let secret = enroll(&app, "alice", at - 30).await;
    let refreshed_amr = |first: Value| {
        let app = &app;
        async move {
            let token = first["token"].as_str().unwrap().to_owned();
            let refresh = first["refresh_token"].as_str().unwrap().to_owned();
            let res = app
                .client
                .post(format!("{}/refresh", app.base))
                .header("Refresh-Token", refresh)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let next: Value = res.json().await.unwrap();
            let claims = |t: &str| crate::oauth::claims_of(t)["amr"].clone();
            (claims(&token), claims(next["token"].as_str().unwrap()))
        }
    };
    let res = login(&app, Style::Headers, "alice", Some(&oathtool(&secret, at))).await;
    assert_eq!(res.status(), 200);
    let (login_amr, refresh_amr) = refreshed_amr(res.json().await.unwrap()).await;
    assert_eq!(login_amr, json!(["pwd", "otp"]));
    assert_eq!(
        refresh_amr,
        json!(["pwd", "otp"]),
        "the refresh kept the login's amr"
    );
    let res = login(&app, Style::Headers, "bob", None).await;
    assert_eq!(res.status(), 200);
    let (login_amr, refresh_amr) = refreshed_amr(res.json().await.unwrap()).await;
    assert_eq!((login_amr, refresh_amr), (json!(["pwd"]), json!(["pwd"])));
}
