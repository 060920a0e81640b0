//! Seed 003's `authentication_code`: a service account's opaque API key, exchanged on `/login`
//! for a token with the code alone (`Authentication-Code` header or `authentication_code` body
//! field), with the uniform 401, the throttle keyed by client address and argon2 like any
//! secret.

use reqwest::header::HeaderValue;
use serde_json::Value;

use crate::helpers::*;
use crate::oauth::claims_of;

const CODE: &str = "ak_live_7Yq2 rT9+x%z";
const OTHER_CODE: &str = "ak_live_second-client";
const RETIRED_CODE: &str = "ak_live_retired";
const KEY_ONLY_CODE: &str = "ak_live_key-only";

fn code_spec(config: &str) -> Spec {
    let mut users = users_toml();
    users.push_str(&format!(
        r#"
[[service_accounts]]
identifier = "api-client"
pass_code_hash = "{}"
authentication_code_hash = "{}"
roles = ["batch"]
organisations = ["CRMDEMO"]

[[service_accounts]]
identifier = "second-client"
pass_code_hash = "{}"
authentication_code_hash = "{}"

[[service_accounts]]
identifier = "retired-client"
pass_code_hash = "{}"
authentication_code_hash = "{}"
disabled = true

# An API key and nothing else: no pass code.
[[service_accounts]]
identifier = "key-only"
authentication_code_hash = "{}"
"#,
        hash("pass-code-1"),
        hash(CODE),
        hash("pass-code-2"),
        hash(OTHER_CODE),
        hash("pass-code-3"),
        hash(RETIRED_CODE),
        hash(KEY_ONLY_CODE),
    ));
    Spec {
        users,
        config: format!(
            "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[token]\nservice_ttl = \"5m\"\n\
             [permissions]\nbatch = [\"read_invoices\"]\n{config}"
        ),
        ..Spec::default()
    }
}

impl TestApp {
    async fn code_login(&self, code: &str, from: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/login", self.base))
            .header("Authentication-Code", HeaderValue::from_str(code).unwrap())
            .header("X-Forwarded-For", from)
            .send()
            .await
            .unwrap()
    }

    async fn code_json(&self, body: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/login", self.base))
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }
}

fn envelope(code: u16, message: &str) -> String {
    format!(r#"{{"status":"error","code":{code},"message":"{message}"}}"#)
}

#[tokio::test]
async fn the_right_code_alone_logs_the_service_account_in() {
    let app = spawn_with(code_spec("")).await;
    let res = app.code_login(CODE, "203.0.113.10").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expires_in"], 300, "token.service_ttl");
    let token = body["token"].as_str().unwrap();
    let jwks = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    let claims = watchword_verify::Verifier::from_jwks_json(&jwks, Default::default())
        .unwrap()
        .verify(token)
        .unwrap();
    assert_eq!(claims.sub, "api-client");
    assert_eq!(claims.extra["kind"], "service");
    assert_eq!(
        claims.extra["permissions"],
        serde_json::json!(["read_invoices"])
    );

    // Each code is its own account's.
    let res = app.code_login(OTHER_CODE, "203.0.113.10").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        claims_of(body["token"].as_str().unwrap())["sub"],
        "second-client"
    );

    // An account with a code and no pass code logs in by its code, never by identifier.
    let res = app.code_login(KEY_ONLY_CODE, "203.0.113.10").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        claims_of(body["token"].as_str().unwrap())["sub"],
        "key-only"
    );
    let uniform = status_body(app.login(&Method::Post, "user_test", "nope").await).await;
    let res = app
        .client
        .post(format!("{}/login", app.base))
        .header("Identifier", "key-only")
        .header("Pass-Code", KEY_ONLY_CODE)
        .send()
        .await
        .unwrap();
    assert_eq!(status_body(res).await, uniform);

    // The JSON body field, as seed 003's clients send it, with the organisation.
    let res = app
        .code_json(
            &serde_json::json!({"authentication_code": CODE, "organisation": "CRMDEMO"})
                .to_string(),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let c = claims_of(body["token"].as_str().unwrap());
    assert_eq!(
        (c["sub"].as_str(), c["org"].as_str()),
        (Some("api-client"), Some("CRMDEMO"))
    );
}

#[tokio::test]
async fn a_wrong_code_gets_the_uniform_401() {
    let app = spawn_with(code_spec("")).await;
    let uniform = status_body(app.login(&Method::Post, "user_test", "nope").await).await;
    assert_eq!(uniform.0, 401);
    for code in [
        "ak_live_wrong",
        RETIRED_CODE,  // a disabled account's code
        "pass-code-1", // a pass code is not an authentication code
        PASSWORD,
    ] {
        let res = app.code_login(code, "203.0.113.20").await;
        assert_eq!(status_body(res).await, uniform, "{code}");
    }
    let res = app
        .code_json(&serde_json::json!({"authentication_code": "nope"}).to_string())
        .await;
    assert_eq!(status_body(res).await, uniform);
    // Outside the account's organisations: the uniform 401 too.
    let res = app
        .code_json(
            &serde_json::json!({"authentication_code": CODE, "organisation": "ELSEWHERE"})
                .to_string(),
        )
        .await;
    assert_eq!(status_body(res).await, uniform);
}

/// A code names no account, so it is checked against every account that has one: the work is
/// the same for a right and a wrong code (one argon2 run per configured code), and limits are
/// checked before any of it.
#[tokio::test]
async fn every_code_costs_the_same_argon2_work_and_limits_come_first() {
    let app = spawn_with(code_spec("")).await;
    for code in [CODE, "ak_live_wrong", RETIRED_CODE] {
        let before = app.state.pool.verifications();
        app.code_login(code, "203.0.113.30").await;
        assert_eq!(app.state.pool.verifications() - before, 4, "{code}");
    }
    let before = app.state.pool.verifications();
    let long = "c".repeat(1025);
    let cases = [
        (
            app.code_login("", "203.0.113.30").await,
            (400, envelope(402, "Required field Authentication-Code is empty.")),
        ),
        (
            app.code_login(&long, "203.0.113.30").await,
            (400, envelope(400, "Field Authentication-Code is longer than 1024 bytes.")),
        ),
        (
            app.client
                .post(format!("{}/login", app.base))
                .header("Authentication-Code", CODE)
                .header("User-Name", "user_test")
                .header("Password", PASSWORD)
                .send()
                .await
                .unwrap(),
            (400, envelope(400, "Credentials given twice.")),
        ),
        (
            app.code_json(r#"{"authentication_code":"x","identifier":"api-client","pass_code":"pass-code-1"}"#)
                .await,
            (400, envelope(400, "Credentials given twice.")),
        ),
        (
            app.code_json(r#"{"authentication_code":"x","username":"user_test","password":"x"}"#)
                .await,
            (400, envelope(400, "Credentials given twice.")),
        ),
        (
            app.code_json(r#"{"authentication_code":""}"#).await,
            (400, envelope(402, "Required field authentication_code is empty.")),
        ),
    ];
    for (res, expected) in cases {
        assert_eq!(status_body(res).await, expected);
    }
    assert_eq!(
        app.state.pool.verifications(),
        before,
        "a refused request cost argon2 work"
    );

    // With no account holding a code, a code login still costs one run (the dummy hash).
    let plain = spawn_app().await;
    let before = plain.state.pool.verifications();
    let res = plain
        .client
        .post(format!("{}/login", plain.base))
        .header("Authentication-Code", CODE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(plain.state.pool.verifications() - before, 1);
}

/// The throttle counts code logins per client address: after the budget, the right code is
/// refused too, from that address only.
#[tokio::test]
async fn code_logins_are_throttled_per_client_address() {
    let app = spawn_with(code_spec("")).await;
    for i in 0..5 {
        let res = app.code_login(&format!("guess-{i}"), "203.0.113.40").await;
        assert_eq!(res.status(), 401);
    }
    let before = app.state.pool.verifications();
    let res = app.code_login(CODE, "203.0.113.40").await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (_, body) = status_body(res).await;
    assert_eq!(
        body,
        envelope(
            429,
            &format!("Too many failed attempts. Try again in {retry} seconds.")
        )
    );
    assert_eq!(
        app.state.pool.verifications(),
        before,
        "a locked address costs no argon2 work"
    );
    // Another address still logs in with the code, and people at the first address too.
    assert_eq!(app.code_login(CODE, "198.51.100.40").await.status(), 200);
    let mut h = creds("user_test", PASSWORD);
    h.insert("X-Forwarded-For", HeaderValue::from_static("203.0.113.40"));
    assert_eq!(app.login_with(&Method::Post, h).await.status(), 200);
}
