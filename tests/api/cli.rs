//! The `watchword` binary as an operator runs it: hash-password, keygen, broken configs,
//! and what the service writes to its log.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_watchword");

fn cheap_env(cmd: &mut Command) -> &mut Command {
    let (m, t, p) = CHEAP;
    cmd.env("WATCHWORD__PASSWORD__M_COST", m.to_string())
        .env("WATCHWORD__PASSWORD__T_COST", t.to_string())
        .env("WATCHWORD__PASSWORD__P_COST", p.to_string())
        .env_remove("WATCHWORD_CONFIG")
        .env_remove("RUST_LOG")
}

fn hash_with_cli(password: &str) -> String {
    let mut child = cheap_env(&mut Command::new(BIN))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn hash_password_output_logs_in() {
    let phc = hash_with_cli("s3cret pässword");
    assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
    let app = spawn_with(Spec {
        users: format!("[[users]]\nname = \"cli\"\npassword_hash = \"{phc}\"\n"),
        ..Spec::default()
    })
    .await;
    assert_eq!(
        app.login(&Method::Post, "cli", "s3cret pässword")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.login(&Method::Post, "cli", "s3cret password")
            .await
            .status(),
        401
    );
}

/// The same command makes a service account's authentication code hash.
#[tokio::test]
async fn hash_password_makes_an_authentication_code_hash() {
    let code = "ak_live_from-the-cli";
    let phc = hash_with_cli(code);
    let app = spawn_with(Spec {
        users: format!(
            "[[service_accounts]]\nidentifier = \"cli-client\"\npass_code_hash = \"{}\"\n\
             authentication_code_hash = \"{phc}\"\n",
            hash_with_cli("unused pass code")
        ),
        ..Spec::default()
    })
    .await;
    let login = |code: &'static str| {
        app.client
            .post(format!("{}/login", app.base))
            .header("Authentication-Code", code)
            .send()
    };
    let res = login(code).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        crate::oauth::claims_of(body["token"].as_str().unwrap())["sub"],
        "cli-client"
    );
    assert_eq!(login("ak_live_other").await.unwrap().status(), 401);
}

#[test]
fn hash_password_warns_about_edge_whitespace() {
    let mut child = cheap_env(&mut Command::new(BIN))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b" padded\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("whitespace"));
}

#[tokio::test]
async fn keygen_output_is_accepted_as_the_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    for alg in ["EdDSA", "ES256", "RS256"] {
        let key = dir.path().join(format!("{alg}.pem"));
        let status = Command::new(BIN)
            .args(["keygen", "--alg", alg, "--out"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Never overwrites.
        let again = Command::new(BIN)
            .args(["keygen", "--alg", alg, "--out"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(!again.status.success());

        let app = spawn_with(Spec {
            config: format!(
                "[token]\nalgorithm = \"{alg}\"\n[keys]\nsigning_key_file = \"{}\"\n",
                key.display()
            ),
            ..Spec::default()
        })
        .await;
        let token = app.token("user_test", PASSWORD).await;
        let res = app
            .client
            .get(format!("{}/verify", app.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{alg}");
    }
}

/// Run `serve` with a broken setting: it must exit non-zero, name the key, and never listen.
pub fn assert_refuses(env: &[(&str, &str)], needle: &str) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(BIN);
    cheap_env(&mut cmd).env("WATCHWORD__SERVER__BIND", format!("127.0.0.1:{port}"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.arg("serve").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{env:?} started");
    assert!(stderr.contains(needle), "{env:?}: {stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn broken_config_stops_the_start_naming_the_key() {
    assert_refuses(
        &[("WATCHWORD__TOKEN__ALGORITHM", "HS1024")],
        r#"token.algorithm: "HS1024" is not one of EdDSA, ES256, RS256, HS256"#,
    );
    assert_refuses(&[("WATCHWORD__TOKEN__TTL", "forever")], "token.ttl");
    assert_refuses(&[("WATCHWORD__SERVER__BIND", "nowhere")], "server.bind");
    assert_refuses(&[("WATCHWORD__PASSWORD__M_COST", "1")], "password.m_cost");
    assert_refuses(
        &[("WATCHWORD__PASSWORD__M_COST", "lots")],
        "password.m_cost",
    );
    assert_refuses(
        &[("WATCHWORD__KEYS__SIGNING_KEY_FILE", "/nonexistent/key.pem")],
        "keys.signing_key_file",
    );
    assert_refuses(
        &[("WATCHWORD__USERS__FILE", "/nonexistent/users.toml")],
        "users.file",
    );
    assert_refuses(
        &[("WATCHWORD__PASSWORD__QUEUE", "100000000")],
        "password.queue: 100000000 is over the limit of 65536",
    );
    assert_refuses(
        &[("WATCHWORD__PASSWORD__WORKERS", "5000")],
        "password.workers",
    );
    assert_refuses(&[("WATCHWORD__METRICS__BIND", "9090")], "metrics.bind");
    assert_refuses(
        &[
            ("WATCHWORD__SERVER__BIND", "127.0.0.1:18099"),
            ("WATCHWORD__METRICS__BIND", "127.0.0.1:18099"),
        ],
        "metrics.bind: 127.0.0.1:18099 is server.bind too",
    );
    // A metrics port that is taken stops the start too, naming metrics.bind.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert_refuses(
        &[(
            "WATCHWORD__METRICS__BIND",
            &taken.local_addr().unwrap().to_string(),
        )],
        "metrics.bind: cannot listen on",
    );
    assert_refuses(&[("WATCHWORD__TOKEN__TLL", "30m")], "tll");
    assert_refuses(
        &[("WATCHWORD__TOKEN__PROFILE", "oauth")],
        r#"token.profile: "oauth" is not one of jwt, rfc9068"#,
    );
    assert_refuses(
        &[("WATCHWORD__TOKEN__PROFILE", "rfc9068")],
        "token.audience: must name at least one audience when token.profile = \"rfc9068\"",
    );
    assert_refuses(
        &[("WATCHWORD_CONFIG", "/nonexistent/watchword.toml")],
        "--config",
    );

    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        "[[users]]\nname = \"mallory\"\npassword_hash = \"plaintext\"\n",
    )
    .unwrap();
    assert_refuses(
        &[("WATCHWORD__USERS__FILE", users.to_str().unwrap())],
        "\"mallory\"",
    );
    let key = dir.path().join("ed.pem");
    write_key(
        &key,
        &watchword::token::signing_key::generate_pem("EdDSA".parse().unwrap()).unwrap(),
    );
    assert_refuses(
        &[
            ("WATCHWORD__KEYS__SIGNING_KEY_FILE", key.to_str().unwrap()),
            ("WATCHWORD__TOKEN__ALGORITHM", "RS256"),
        ],
        "keys.signing_key_file",
    );
}

/// The binary serving on a free port, with its stderr collected.
pub struct Running {
    pub child: KillOnDrop,
    pub base: String,
    pub log: Arc<Mutex<String>>,
}

impl Running {
    pub fn start(env: &[(&str, String)]) -> Running {
        Running::start_on(0, env)
    }

    pub fn start_on(port: u16, env: &[(&str, String)]) -> Running {
        let mut cmd = Command::new(BIN);
        cheap_env(&mut cmd).env("WATCHWORD__SERVER__BIND", format!("127.0.0.1:{port}"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = KillOnDrop(
            cmd.arg("serve")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    // Text or JSON lines: the address ends at a quote or whitespace.
                    let addr: String = addr
                        .chars()
                        .take_while(|c| *c != '"' && !c.is_whitespace())
                        .collect();
                    let _ = tx.send(addr);
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("server did not start: {}", log.lock().unwrap()));
        Running { child, base, log }
    }

    /// The `metrics.bind` listener's `/metrics` URL, once the process has logged it.
    pub async fn metrics_url(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(rest) = self.log.lock().unwrap().split("metrics on ").nth(1) {
                return rest.lines().next().unwrap().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no metrics listener: {}",
                self.log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && Arc::strong_count(&self.log) > 1 {
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = self.log.lock().unwrap().clone();
        log
    }
}

#[tokio::test]
async fn readme_run_command_defaults_serve_the_demo_user_with_a_warning() {
    // No config file, no key, no users file: the embedded defaults. Production argon2
    // parameters too, as the demo user's hash was made with them.
    let mut cmd = Command::new(BIN);
    cmd.env_remove("WATCHWORD_CONFIG")
        .env_remove("RUST_LOG")
        .env("WATCHWORD__SERVER__BIND", "127.0.0.1:0");
    let mut child = KillOnDrop(cmd.stderr(Stdio::piped()).spawn().unwrap());
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let base = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(addr) = line.split("listening on ").nth(1) {
            break addr.trim().to_owned();
        }
    };
    assert!(
        seen.contains("WARN") && seen.contains("ephemeral"),
        "{seen}"
    );
    assert!(seen.contains("DEMO users"), "{seen}");
    let res = reqwest::Client::new()
        .post(format!("{base}/login"))
        .header("User-Name", "user_test")
        .header("Password", "password_test")
        .send()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(res.status(), 200);
}

/// The hostile mix in one run against the real binary, then the whole log is searched for
/// every secret that was sent: passwords (right, wrong, oversized, throttled) and tokens.
#[tokio::test]
async fn the_log_has_every_attempt_and_never_a_password_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, users_toml()).unwrap();
    let server = Running::start(&[
        ("WATCHWORD__USERS__FILE", users.display().to_string()),
        ("RUST_LOG", "trace".into()),
    ]);
    let client = reqwest::Client::new();
    let login = |user: &str, pw: &str| {
        client
            .post(format!("{}/login", server.base))
            .header("User-Name", user)
            .header("Password", pw)
            .send()
    };
    let ok: serde_json::Value = login("user_test", PASSWORD)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = ok["token"].as_str().unwrap().to_owned();
    assert_eq!(
        login("user_test", "Wrong-Secret-1").await.unwrap().status(),
        401
    );
    assert_eq!(
        login("nobody", "Wrong-Secret-2").await.unwrap().status(),
        401
    );
    assert_eq!(
        login("disabled_user", PASSWORD).await.unwrap().status(),
        401
    );
    // Throttled: four more wrong guesses, then the right password is refused.
    for i in 0..4 {
        assert_eq!(
            login("user_test", &format!("Wrong-Secret-3{i}"))
                .await
                .unwrap()
                .status(),
            401
        );
    }
    assert_eq!(login("user_test", PASSWORD).await.unwrap().status(), 429);
    let oversized = format!("Oversized-Secret-{}", "z".repeat(1100));
    assert_eq!(login("spacey", &oversized).await.unwrap().status(), 400);
    let raw = client
        .post(format!("{}/login", server.base))
        .header("User-Name", "spacey")
        .header(
            "Password",
            reqwest::header::HeaderValue::from_bytes(b"Latin1-Secret-\xe9").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let verify = |auth: String| {
        client
            .get(format!("{}/verify", server.base))
            .header("Authorization", auth)
            .send()
    };
    assert_eq!(
        verify(format!("Bearer {token}")).await.unwrap().status(),
        200
    );
    assert_eq!(
        verify(format!("Bearer {token}x")).await.unwrap().status(),
        401
    );
    assert_eq!(
        verify(format!("Token {}", token.replace('.', "!")))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        verify(format!("Basic {token}")).await.unwrap().status(),
        401
    );
    let log = server.stop();

    assert_eq!(log.matches("login outcome=ok").count(), 1, "{log}");
    assert_eq!(
        log.matches("login outcome=bad_credentials").count(),
        7,
        "{log}"
    );
    assert_eq!(log.matches("login outcome=throttled").count(), 1, "{log}");
    assert_eq!(log.matches("login outcome=bad_request").count(), 2, "{log}");
    assert_eq!(
        log.matches("verify outcome=").count(),
        3,
        "every /verify failure once: {log}"
    );
    assert!(log.contains("user=\"nobody\""), "{log}");
    assert!(log.contains("client=127.0.0.1"), "{log}");
    let mut secrets = vec![
        PASSWORD.to_owned(),
        "Wrong-Secret".into(),
        "Oversized-Secret".into(),
        "Latin1-Secret".into(),
    ];
    secrets.push(token.clone());
    // Not even one part of a token (header, payload or signature).
    secrets.extend(token.split('.').map(str::to_owned));
    for secret in secrets {
        assert!(
            !log.contains(&secret),
            "log contains a secret: {secret}\n{log}"
        );
    }
}

/// The start log says how many account hashes were made with other argon2 parameters than
/// `password.*`, and to rehash them; with none it says nothing.
#[tokio::test]
async fn the_start_log_counts_hashes_with_other_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let old = watchword::login::password::hash_password(
        "pw",
        &argon2::Params::new(128, 2, 1, None).unwrap(),
    )
    .unwrap();
    std::fs::write(
        &users,
        format!(
            "{}[[users]]\nname = \"old\"\npassword_hash = \"{old}\"\n",
            users_toml()
        ),
    )
    .unwrap();
    let server = Running::start(&[("WATCHWORD__USERS__FILE", users.display().to_string())]);
    let log = server.stop();
    assert!(
        log.contains("1 of 5 account hashes use other argon2 parameters than password.*"),
        "{log}"
    );
    assert!(log.contains("rehash"), "{log}");
    std::fs::write(&users, users_toml()).unwrap();
    let server = Running::start(&[("WATCHWORD__USERS__FILE", users.display().to_string())]);
    let log = server.stop();
    assert!(!log.contains("other argon2 parameters"), "{log}");
}

/// Behind a proxy missing from `server.trusted_proxies`, every client shares the proxy's
/// address: the service says so, once, when forwarding headers arrive from an untrusted peer.
#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_warned_about_once() {
    let server = Running::start(&[]);
    let client = reqwest::Client::new();
    for (name, value) in [
        ("X-Forwarded-For", "198.51.100.1"),
        ("Forwarded", "for=198.51.100.2"),
        ("X-Forwarded-For", "198.51.100.3"),
    ] {
        let res = client
            .post(format!("{}/login", server.base))
            .headers(creds("user_test", "wrong"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    let log = server.stop();
    assert_eq!(
        log.matches("is not in server.trusted_proxies").count(),
        1,
        "{log}"
    );
    assert!(log.contains("client=127.0.0.1"), "{log}");
    assert!(!log.contains("client=198.51.100"), "{log}");
}

/// The container's way: an empty working directory, configuration from environment variables
/// and mounted files only, bound to 0.0.0.0; `healthcheck` exits 0 against it, 1 without it.
/// `/token` and code logins in the real binary: one log line per attempt naming the endpoint
/// and grant, and never a password, pass code, authentication code or token.
#[tokio::test]
async fn token_endpoint_attempts_are_logged_without_secrets() {
    use crate::oauth::{basic_encoded, basic_raw, form, urlencode, ODD_SECRET};
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let code = "ak_live_LogSecret-7";
    let mut text = crate::oauth::oauth_users();
    text.push_str(&format!(
        "[[service_accounts]]\nidentifier = \"coded\"\npass_code_hash = \"{}\"\nauthentication_code_hash = \"{}\"\n",
        hash("unused"),
        hash(code)
    ));
    std::fs::write(&users, text).unwrap();
    let server = Running::start(&[
        ("WATCHWORD__USERS__FILE", users.display().to_string()),
        ("RUST_LOG", "trace".into()),
    ]);
    let client = reqwest::Client::new();
    let post = |body: String, auth: Option<String>| {
        let mut req = client
            .post(format!("{}/token", server.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send()
    };
    let grant = |pw: &str| {
        form(&[
            ("grant_type", "password"),
            ("username", "user_test"),
            ("password", pw),
        ])
    };
    let res = post(grant(PASSWORD), None).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        post(grant("Wrong-Token-Secret"), None)
            .await
            .unwrap()
            .status(),
        400
    );
    let cc = "grant_type=client_credentials".to_owned();
    let res = post(cc.clone(), Some(basic_raw("odd-secret", ODD_SECRET)))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let service_token = body["access_token"].as_str().unwrap().to_owned();
    let res = post(
        cc.clone(),
        Some(basic_encoded("odd-secret", "Wrong-Client-Secret")),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 401);
    let res = post(
        format!("{cc}&client_id=billing-batch&client_secret=Posted-Secret-9"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        post("grant_type=implicit".into(), None)
            .await
            .unwrap()
            .status(),
        400
    );
    let res = client
        .post(format!("{}/login", server.base))
        .header("Authentication-Code", code)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .post(format!("{}/login", server.base))
        .header("Authentication-Code", "ak_live_Wrong-Code")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let log = server.stop();

    assert_eq!(
        log.matches("login outcome=ok user=\"user_test\"").count(),
        1,
        "{log}"
    );
    assert!(log.contains("endpoint=/token grant_type=password"), "{log}");
    assert!(
        log.contains("endpoint=/token grant_type=client_credentials"),
        "{log}"
    );
    assert!(log.contains("user=\"odd-secret\""), "{log}");
    assert!(log.contains("endpoint=/token grant_type=-"), "{log}");
    assert_eq!(
        log.matches("outcome=bad_credentials").count(),
        4,
        "wrong password, two wrong client secrets, wrong code: {log}"
    );
    assert!(log.contains("user=\"coded\""), "the code's account: {log}");
    let mut secrets: Vec<String> = vec![
        PASSWORD.into(),
        "Wrong-Token-Secret".into(),
        ODD_SECRET.into(),
        urlencode(ODD_SECRET),
        "Wrong-Client-Secret".into(),
        "Posted-Secret-9".into(),
        code.into(),
        "ak_live_Wrong-Code".into(),
        basic_raw("odd-secret", ODD_SECRET),
    ];
    for t in [&token, &service_token] {
        secrets.push(t.clone());
        secrets.extend(t.split('.').map(str::to_owned));
    }
    for secret in secrets {
        assert!(
            !log.contains(&secret),
            "log contains a secret: {secret}\n{log}"
        );
    }
}

#[tokio::test]
async fn runs_like_the_image_from_an_empty_directory() {
    let mounted = tempfile::tempdir().unwrap();
    let key = mounted.path().join("key.pem");
    write_key(
        &key,
        &watchword::token::signing_key::generate_pem("ES256".parse().unwrap()).unwrap(),
    );
    let users = mounted.path().join("users.toml");
    std::fs::write(&users, users_toml()).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("0.0.0.0:{port}");
    let env = [
        ("WATCHWORD__SERVER__BIND", bind.clone()),
        ("WATCHWORD__TOKEN__ALGORITHM", "ES256".to_owned()),
        (
            "WATCHWORD__KEYS__SIGNING_KEY_FILE",
            key.display().to_string(),
        ),
        ("WATCHWORD__USERS__FILE", users.display().to_string()),
    ];
    let healthcheck = || {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(empty.path())
            .env_remove("WATCHWORD_CONFIG")
            .arg("healthcheck");
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.output().unwrap().status.code()
    };
    assert_eq!(healthcheck(), Some(1), "nothing listens yet");

    let mut cmd = Command::new(BIN);
    cheap_env(&mut cmd).current_dir(empty.path());
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let mut child = KillOnDrop(cmd.stderr(Stdio::piped()).spawn().unwrap());
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("server started").unwrap();
        assert!(!line.contains("DEMO"), "{line}");
        if line.contains("listening on") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    assert_eq!(healthcheck(), Some(0));
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/login"))
        .headers(creds("user_test", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(healthcheck(), Some(1), "down again");
    assert_eq!(
        std::fs::read_dir(empty.path()).unwrap().count(),
        0,
        "writes nothing to its directory"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let server = Running::start(&[("WATCHWORD__LOG__FORMAT", "json".into())]);
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/login", server.base))
        .headers(creds("nobody", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let log = server.stop();
    let mut lines = 0;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["msg"].is_string() && v["ts"].is_string(),
            "{line}"
        );
        lines += 1;
    }
    assert!(log.contains("login outcome=bad_credentials"), "{log}");
    assert!(lines >= 3, "{log}");
}

#[tokio::test]
async fn readyz_answers_when_keys_and_users_are_loaded() {
    let app = spawn_app().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"{"status":"ok","code":200}"#);
}

/// SIGTERM while a slow login is hashing: the login completes, then the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_logins_then_exits_zero() {
    let params = argon2::Params::new(64 * 1024, 8, 1, None).unwrap();
    let hash = watchword::login::password::hash_password(PASSWORD, &params).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!("[[users]]\nname = \"slow\"\npassword_hash = \"{hash}\"\n"),
    )
    .unwrap();
    let mut server = Running::start(&[
        ("WATCHWORD__USERS__FILE", users.display().to_string()),
        ("WATCHWORD__METRICS__BIND", "127.0.0.1:0".into()),
    ]);
    let metrics = server.metrics_url().await;
    let base = server.base.clone();
    let login = tokio::spawn(async move {
        let started = Instant::now();
        let res = reqwest::Client::new()
            .post(format!("{base}/login"))
            .headers(creds("slow", PASSWORD))
            .send()
            .await;
        (res.map(|r| r.status().as_u16()), started.elapsed())
    });
    // Once the login is in the hashing pool, ask the process to stop. (Waiting for a fixed
    // time instead lost the race on a busy machine: SIGTERM came before the request.)
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric_value(&metrics, "watchword_argon2_in_flight").await < 1 {
        assert!(
            Instant::now() < deadline,
            "the login never reached the pool"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let (status, took) = login.await.unwrap();
    assert_eq!(
        status.expect("the in-flight login was answered"),
        200,
        "after {took:?}"
    );
    let exit = server.child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "{}", server.log.lock().unwrap());
}

/// The value of the sample `name` (no labels, or with them spelt out) scraped from `url`.
pub async fn metric_value(url: &str, name: &str) -> i64 {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .map_or(0, |l| {
            l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as i64
        })
}

/// `metrics.bind` in the real process: scrapes go to their own port, the public port has no
/// `/metrics`, and SIGTERM stops both listeners and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listener_serves_and_stops_with_the_process() {
    let mut server = Running::start(&[("WATCHWORD__METRICS__BIND", "127.0.0.1:0".into())]);
    let metrics = server.metrics_url().await;
    let client = reqwest::Client::new();
    let res = client.get(&metrics).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("watchword_keys 1"));
    let res = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let exit = tokio::task::spawn_blocking(move || server.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    assert!(
        client.get(&metrics).send().await.is_err(),
        "metrics port still open"
    );
}
