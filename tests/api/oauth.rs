//! `POST /token`, the OAuth 2.0 token endpoint (RFC 6749): both grants, every error with its
//! exact status and body, client authentication both ways, scopes, the shared throttle and
//! limits, discovery, and RFC 9068 access tokens.

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use watchword_verify::{Validation, Verifier};

use crate::helpers::*;

/// A pass code with every character that Basic's two encodings treat differently.
pub const ODD_SECRET: &str = "50% of a+b: c d";

pub fn oauth_users() -> String {
    let mut users = users_toml();
    users.push_str(&format!(
        r#"
[[users]]
name = "mpadministrator"
password_hash = "{}"
roles = ["admin"]
organisations = ["CRMDEMO"]
units = ["EE63A82C4FEBE02FF34E90DD1EBA5ABE"]

[[service_accounts]]
identifier = "billing-batch"
pass_code_hash = "{}"
roles = ["batch"]

[[service_accounts]]
identifier = "odd-secret"
pass_code_hash = "{}"
roles = ["batch"]

[[service_accounts]]
identifier = "retired-batch"
pass_code_hash = "{}"
roles = ["batch"]
disabled = true
"#,
        hash("1234"),
        hash("pass-code-9"),
        hash(ODD_SECRET),
        hash("pass-code-9"),
    ));
    users
}

pub fn oauth_spec(config: &str) -> Spec {
    Spec {
        users: oauth_users(),
        config: format!(
            "[token]\nservice_ttl = \"5m\"\n[permissions]\nadmin = [\"view_org_users\", \"edit_org_users\"]\n\
             batch = [\"read_invoices\"]\n{config}"
        ),
        ..Spec::default()
    }
}

/// `application/x-www-form-urlencoded` as browsers, Go and node write it: unreserved bytes as
/// they are, space as `+`, everything else `%XX`.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `Authorization: Basic` with the halves as given (what Python's requests and Authlib send).
pub fn basic_raw(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// `Authorization: Basic` with both halves form-urlencoded first (RFC 6749 §2.3.1; Go, node).
pub fn basic_encoded(id: &str, secret: &str) -> String {
    basic_raw(&urlencode(id), &urlencode(secret))
}

impl TestApp {
    /// `POST /token` with a form body and optional `Authorization`.
    pub async fn token_request(
        &self,
        body: &str,
        authorization: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}/token", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        req.send().await.expect("request sent")
    }

    /// A password grant.
    pub async fn password_grant(&self, user: &str, password: &str) -> reqwest::Response {
        let body = form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
        ]);
        self.token_request(&body, None).await
    }

    /// A client credentials grant over HTTP Basic (raw).
    pub async fn client_grant(&self, id: &str, secret: &str) -> reqwest::Response {
        self.token_request(
            "grant_type=client_credentials",
            Some(&basic_raw(id, secret)),
        )
        .await
    }
}

pub fn claims_of(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

pub fn header_of(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// A 200 answer per RFC 6749 §5.1: its headers, and the body's token.
async fn granted(res: reqwest::Response) -> (Value, String) {
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    (body, token)
}

/// An error answer per RFC 6749 §5.2: status, `error`, and the whole body.
async fn refused(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    assert_eq!(headers["cache-control"], "no-store", "{text}");
    assert_eq!(headers["pragma"], "no-cache", "{text}");
    assert_eq!(headers["content-type"], "application/json", "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error", "error_description"], "{text}");
    (status, body["error"].as_str().unwrap().to_owned(), text)
}

async fn verifier_of(app: &TestApp, validation: Validation) -> Verifier {
    let jwks = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    Verifier::from_jwks_json(&jwks, validation).unwrap()
}

async fn verify_status(app: &TestApp, token: &str) -> u16 {
    app.client
        .get(format!("{}/verify", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn password_grant_answers_per_rfc6749_with_the_login_token() {
    let app = spawn_with(oauth_spec("")).await;
    let (body, token) = granted(app.password_grant("user_test", PASSWORD).await).await;
    assert_eq!(body["expires_in"], 1800);
    assert!(body.get("scope").is_none(), "no scope asked, none given");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["access_token", "expires_in", "token_type"]);

    // The same token as /login gives: same claims but the time-dependent ones.
    let login = app.token("user_test", PASSWORD).await;
    let (mut a, mut b) = (claims_of(&token), claims_of(&login));
    for c in [&mut a, &mut b] {
        for k in ["iat", "nbf", "exp", "jti"] {
            c.as_object_mut().unwrap().remove(k);
        }
    }
    assert_eq!(a, b);
    assert_eq!(header_of(&token), header_of(&login));
    assert!(claims_of(&token).get("scope").is_none());
    assert!(claims_of(&token).get("client_id").is_none(), "jwt profile");
    let claims = verifier_of(&app, Validation::default())
        .await
        .verify(&token)
        .unwrap();
    assert_eq!(claims.sub, "user_test");
    assert_eq!(verify_status(&app, &token).await, 200);

    // A charset parameter is fine; so are parameters this endpoint does not know.
    let res = app
        .client
        .post(format!("{}/token", app.base))
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body("grant_type=password&username=user_test&password=password_test&remember=1")
        .send()
        .await
        .unwrap();
    granted(res).await;
    // Organisation and unit, as extra parameters.
    let body = form(&[
        ("grant_type", "password"),
        ("username", "mpadministrator"),
        ("password", "1234"),
        ("organisation", "CRMDEMO"),
        ("unit", "EE63A82C4FEBE02FF34E90DD1EBA5ABE"),
    ]);
    let (_, token) = granted(app.token_request(&body, None).await).await;
    assert_eq!(claims_of(&token)["org"], "CRMDEMO");
    assert_eq!(
        claims_of(&token)["unit"],
        "EE63A82C4FEBE02FF34E90DD1EBA5ABE"
    );
    let elsewhere = body.replace("CRMDEMO", "ELSEWHERE");
    let (status, error, _) = refused(app.token_request(&elsewhere, None).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
}

#[tokio::test]
async fn client_credentials_over_basic_both_encodings_and_in_the_body() {
    let app = spawn_with(oauth_spec("")).await;
    let (body, token) = granted(app.client_grant("billing-batch", "pass-code-9").await).await;
    assert_eq!(body["expires_in"], 300, "token.service_ttl");
    let claims = verifier_of(&app, Validation::default())
        .await
        .verify(&token)
        .unwrap();
    assert_eq!(claims.sub, "billing-batch");
    assert_eq!(claims.extra["kind"], "service");
    assert_eq!(claims.extra["permissions"], json!(["read_invoices"]));
    assert_eq!(verify_status(&app, &token).await, 200);

    // A secret with %, +, : and a space: as it is (Python's requests, Authlib) and
    // form-urlencoded (RFC 6749 §2.3.1: Go's x/oauth2, node's clients).
    for auth in [
        basic_raw("odd-secret", ODD_SECRET),
        basic_encoded("odd-secret", ODD_SECRET),
    ] {
        let (_, token) = granted(
            app.token_request("grant_type=client_credentials", Some(&auth))
                .await,
        )
        .await;
        assert_eq!(claims_of(&token)["sub"], "odd-secret", "{auth}");
    }
    // client_secret_post, the same secret form-encoded in the body.
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "odd-secret"),
        ("client_secret", ODD_SECRET),
    ]);
    let (_, token) = granted(app.token_request(&body, None).await).await;
    assert_eq!(claims_of(&token)["sub"], "odd-secret");
    // Basic plus the same client_id in the body (what some clients add) is one client.
    let (_, token) = granted(
        app.token_request(
            "grant_type=client_credentials&client_id=billing-batch",
            Some(&basic_encoded("billing-batch", "pass-code-9")),
        )
        .await,
    )
    .await;
    assert_eq!(claims_of(&token)["sub"], "billing-batch");
    // The secret's decoded form alone is not its raw form: each encoding means one secret.
    let (status, error, _) = refused(
        app.client_grant("odd-secret", &urlencode(&urlencode(ODD_SECRET)))
            .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
}

#[tokio::test]
async fn invalid_grant_is_byte_identical_for_wrong_password_unknown_and_disabled_user() {
    let app = spawn_with(oauth_spec("")).await;
    let mut bodies = Vec::new();
    for (user, password) in [
        ("user_test", "wrong"),
        ("nobody-at-all", PASSWORD),
        ("disabled_user", PASSWORD),
        ("billing-batch", "pass-code-9"), // a service identifier is not a user name
    ] {
        let (status, error, text) = refused(app.password_grant(user, password).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{user}");
        bodies.push(text);
    }
    assert_eq!(
        bodies[0],
        r#"{"error":"invalid_grant","error_description":"Invalid user name or password."}"#
    );
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:#?}");
}

#[tokio::test]
async fn invalid_client_is_401_with_a_basic_challenge_and_one_body() {
    let app = spawn_with(oauth_spec("")).await;
    let mut bodies = Vec::new();
    let cases = [
        ("billing-batch", "wrong"),
        ("no-such-service", "pass-code-9"),
        ("retired-batch", "pass-code-9"),
        ("user_test", PASSWORD), // a user is not a client
    ];
    for (id, secret) in cases {
        for (how, res) in [
            ("basic", app.client_grant(id, secret).await),
            (
                "basic encoded",
                app.token_request(
                    "grant_type=client_credentials",
                    Some(&basic_encoded(id, secret)),
                )
                .await,
            ),
            (
                "body",
                app.token_request(
                    &form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", id),
                        ("client_secret", secret),
                    ]),
                    None,
                )
                .await,
            ),
        ] {
            let challenge = res.headers().get("www-authenticate").cloned();
            let (status, error, text) = refused(res).await;
            assert_eq!(
                (status, error.as_str()),
                (401, "invalid_client"),
                "{id} {how}"
            );
            assert_eq!(
                challenge.unwrap(),
                r#"Basic realm="watchword", charset="UTF-8""#,
                "{id} {how}"
            );
            bodies.push(text);
        }
    }
    assert_eq!(
        bodies[0],
        r#"{"error":"invalid_client","error_description":"Client authentication failed."}"#
    );
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:#?}");
    // No client authentication at all, and another scheme, are invalid_client too.
    for auth in [None, Some("Bearer abc.def.ghi")] {
        let res = app
            .token_request("grant_type=client_credentials", auth)
            .await;
        assert!(res.headers().contains_key("www-authenticate"));
        let (status, _, text) = refused(res).await;
        assert_eq!(
            (status, text.as_str()),
            (401, bodies[0].as_str()),
            "{auth:?}"
        );
    }
}

/// Each error code of RFC 6749 §5.2 that /token gives, with its exact status and body.
#[tokio::test]
async fn every_error_has_its_status_and_rfc6749_body() {
    let app = spawn_with(oauth_spec("")).await;
    let before = app.state.pool.verifications();
    let pw = |extra: &str| format!("grant_type=password&username=user_test&password=x{extra}");
    let both = basic_raw("billing-batch", "pass-code-9");
    let cases: Vec<(String, Option<&str>, u16, &str, &str)> = vec![
        (
            "".into(),
            None,
            400,
            "invalid_request",
            "The grant_type parameter is missing.",
        ),
        (
            "grant_type=".into(),
            None,
            400,
            "invalid_request",
            "The grant_type parameter is empty.",
        ),
        (
            "grant_type=password&password=x".into(),
            None,
            400,
            "invalid_request",
            "The username parameter is missing.",
        ),
        (
            "grant_type=password&username=user_test".into(),
            None,
            400,
            "invalid_request",
            "The password parameter is missing.",
        ),
        (
            "grant_type=password&username=user_test&password=".into(),
            None,
            400,
            "invalid_request",
            "The password parameter is empty.",
        ),
        (
            pw("&password=y"),
            None,
            400,
            "invalid_request",
            "The password parameter is given more than once.",
        ),
        (
            pw("&scope=a&scope=b"),
            None,
            400,
            "invalid_request",
            "The scope parameter is given more than once.",
        ),
        (
            format!(
                "grant_type=password&username={}&password=x",
                "u".repeat(257)
            ),
            None,
            400,
            "invalid_request",
            "The username parameter is longer than 256 bytes.",
        ),
        (
            pw("%FF"),
            None,
            400,
            "invalid_request",
            "The password parameter is not valid UTF-8.",
        ),
        (
            "grant_type=client_credentials&client_id=billing-batch&client_secret=pass-code-9"
                .into(),
            Some(both.as_str()),
            400,
            "invalid_request",
            "Client credentials are given both in the Authorization header and in the body.",
        ),
        (
            "grant_type=authorization_code&code=abc".into(),
            None,
            400,
            "unsupported_grant_type",
            "The grant_type must be password or client_credentials.",
        ),
        (
            "grant_type=refresh_token&refresh_token=abc".into(),
            None,
            400,
            "unsupported_grant_type",
            "The grant_type must be password or client_credentials.",
        ),
        (
            pw("&scope=bad\\scope"),
            None,
            400,
            "invalid_scope",
            "The scope parameter is malformed.",
        ),
    ];
    for (body, auth, status, error, description) in cases {
        let res = app.token_request(&body, auth).await;
        let expected = format!(r#"{{"error":"{error}","error_description":"{description}"}}"#);
        assert_eq!(
            refused(res).await,
            (status, error.into(), expected),
            "{body}"
        );
    }
    assert_eq!(
        app.state.pool.verifications(),
        before,
        "a malformed request cost argon2 work"
    );

    // Another content type: 415, in the same shape.
    for ctype in [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded; charset=utf-16",
    ] {
        let res = app
            .client
            .post(format!("{}/token", app.base))
            .header("Content-Type", ctype)
            .body(r#"{"grant_type":"password"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(
            refused(res).await,
            (
                415,
                "invalid_request".into(),
                r#"{"error":"invalid_request","error_description":"The body must be application/x-www-form-urlencoded."}"#.into()
            ),
            "{ctype}"
        );
    }
    // A body over login.max_body_bytes.
    let res = app.token_request(&pw(&"x".repeat(5000)), None).await;
    let (status, error, text) = refused(res).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    assert!(
        text.contains("The body is larger than 4096 bytes."),
        "{text}"
    );
    // Other methods: 405 with Allow, in the same shape.
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let res = app
            .client
            .request(method.clone(), format!("{}/token", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["allow"], "POST");
        let (status, error, _) = refused(res).await;
        assert_eq!(
            (status, error.as_str()),
            (405, "invalid_request"),
            "{method}"
        );
    }
    assert_eq!(app.state.pool.verifications(), before);
}

#[tokio::test]
async fn scopes_are_the_accounts_permissions() {
    let app = spawn_with(oauth_spec("")).await;
    let grant = |user: &str, password: &str, scope: &str| {
        form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("scope", scope),
        ])
    };
    let (body, token) = granted(
        app.token_request(
            &grant("user_test", PASSWORD, "view_org_users edit_org_users"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(body["scope"], "view_org_users edit_org_users");
    let claims = verifier_of(&app, Validation::default())
        .await
        .verify(&token)
        .unwrap();
    assert_eq!(claims.extra["scope"], "view_org_users edit_org_users");
    assert!(claims.has_scope("edit_org_users"));
    // A subset is fine; duplicates are dropped.
    let (body, _) = granted(
        app.token_request(
            &grant("user_test", PASSWORD, "view_org_users view_org_users"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(body["scope"], "view_org_users");
    // An empty scope is no scope (RFC 6749 §3.2).
    let (body, token) = granted(
        app.token_request(&grant("user_test", PASSWORD, ""), None)
            .await,
    )
    .await;
    assert!(body.get("scope").is_none() && claims_of(&token).get("scope").is_none());

    // Not among the permissions: invalid_scope, once the password was right.
    let not_granted = r#"{"error":"invalid_scope","error_description":"The requested scope is not among the account's permissions."}"#;
    for scope in ["read_invoices", "view_org_users admin", "user_test"] {
        let res = app
            .token_request(&grant("user_test", PASSWORD, scope), None)
            .await;
        assert_eq!(
            refused(res).await,
            (400, "invalid_scope".into(), not_granted.into()),
            "{scope}"
        );
    }
    // With a wrong password the answer is invalid_grant: scopes say nothing to a guesser.
    let res = app
        .token_request(&grant("user_test", "wrong", "read_invoices"), None)
        .await;
    assert_eq!(refused(res).await.1, "invalid_grant");
    // An account without permissions may ask for none.
    let res = app
        .token_request(&grant("spacey", SPACED, "view_org_users"), None)
        .await;
    assert_eq!(refused(res).await.1, "invalid_scope");

    // Service accounts: the same rule, through the client credentials grant.
    let (body, token) = granted(
        app.token_request(
            "grant_type=client_credentials&scope=read_invoices",
            Some(&basic_raw("billing-batch", "pass-code-9")),
        )
        .await,
    )
    .await;
    assert_eq!(body["scope"], "read_invoices");
    assert_eq!(claims_of(&token)["scope"], "read_invoices");
    let res = app
        .token_request(
            "grant_type=client_credentials&scope=view_org_users",
            Some(&basic_raw("billing-batch", "pass-code-9")),
        )
        .await;
    assert_eq!(refused(res).await.1, "invalid_scope");
}

/// The password grant may carry client authentication: a public client's id alone is fine, a
/// confidential client (a service account) is checked, and a wrong secret is invalid_client.
#[tokio::test]
async fn password_grant_with_client_authentication() {
    let app = spawn_with(oauth_spec("")).await;
    let body = form(&[
        ("grant_type", "password"),
        ("username", "user_test"),
        ("password", PASSWORD),
    ]);
    // requests-oauthlib sends `Basic base64(client_id:)` for a client without a secret.
    for auth in [
        basic_raw("some-app", ""),
        basic_encoded("billing-batch", "pass-code-9"),
    ] {
        let (_, token) = granted(app.token_request(&body, Some(&auth)).await).await;
        assert_eq!(claims_of(&token)["sub"], "user_test", "{auth}");
    }
    let (_, token) = granted(
        app.token_request(&format!("{body}&client_id=some-app"), None)
            .await,
    )
    .await;
    assert_eq!(claims_of(&token)["sub"], "user_test");
    let posted = format!("{body}&client_id=billing-batch&client_secret=pass-code-9");
    granted(app.token_request(&posted, None).await).await;

    // A wrong client secret fails the request before the password is looked at.
    let res = app
        .token_request(&body, Some(&basic_raw("billing-batch", "wrong")))
        .await;
    assert!(res.headers().contains_key("www-authenticate"));
    assert_eq!(refused(res).await.0, 401);
    let res = app
        .token_request(
            &format!("{body}&client_id=billing-batch&client_secret=wrong"),
            None,
        )
        .await;
    assert_eq!(refused(res).await.1, "invalid_client");
}

/// 429 and 503 keep their status and Retry-After, in the endpoint's JSON shape.
#[tokio::test]
async fn throttled_answers_are_429_with_retry_after() {
    let app = spawn_with(oauth_spec("")).await;
    for _ in 0..5 {
        assert_eq!(app.password_grant("user_test", "guess").await.status(), 400);
    }
    let res = app.password_grant("user_test", PASSWORD).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let (status, error, text) = refused(res).await;
    assert_eq!((status, error.as_str()), (429, "temporarily_unavailable"));
    assert_eq!(
        text,
        format!(
            r#"{{"error":"temporarily_unavailable","error_description":"Too many failed attempts. Try again in {retry} seconds."}}"#
        )
    );
    // Service accounts through the client credentials grant, keyed on the identifier.
    for _ in 0..5 {
        assert_eq!(
            app.client_grant("billing-batch", "guess").await.status(),
            401
        );
    }
    let res = app.client_grant("billing-batch", "pass-code-9").await;
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(refused(res).await.0, 429);
    assert_eq!(
        app.client_grant("odd-secret", ODD_SECRET).await.status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hashing_queue_is_503_with_retry_after() {
    let params = argon2::Params::new(32 * 1024, 4, 1, None).unwrap();
    let hash = watchword::login::password::hash_password(PASSWORD, &params).unwrap();
    let app = Arc::new(
        spawn_with(Spec {
            users: format!("[[users]]\nname = \"user_test\"\npassword_hash = \"{hash}\"\n"),
            config: "[server]\nworkers = 2\n[password]\nm_cost = 32768\nt_cost = 4\nworkers = 1\n\
                     queue = 1\n[throttle]\nenabled = false\n"
                .into(),
            ..Spec::default()
        })
        .await,
    );
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = Arc::clone(&app);
        tasks.push(tokio::spawn(async move {
            let res = app.password_grant("user_test", PASSWORD).await;
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (res.status().as_u16(), retry, res.text().await.unwrap())
        }));
    }
    let (mut ok, mut shed) = (0, 0);
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            503 => {
                shed += 1;
                assert_eq!(retry.as_deref(), Some("1"));
                assert_eq!(
                    body,
                    r#"{"error":"temporarily_unavailable","error_description":"Service busy, try again."}"#
                );
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(ok >= 1 && shed >= 1, "{ok} ok, {shed} shed");
}

/// One budget per name and address, whichever endpoint the guesses come through.
#[tokio::test]
async fn token_and_login_failures_share_the_throttle() {
    let app = spawn_with(oauth_spec("")).await;
    for _ in 0..3 {
        assert_eq!(
            app.login(&Method::Post, "user_test", "guess")
                .await
                .status(),
            401
        );
    }
    for _ in 0..2 {
        assert_eq!(app.password_grant("USER_test", "guess").await.status(), 400);
    }
    // Five failures: both endpoints now refuse the right password for this name.
    assert_eq!(
        refused(app.password_grant("user_test", PASSWORD).await)
            .await
            .0,
        429
    );
    assert_eq!(
        app.login(&Method::Post, "user_test", PASSWORD)
            .await
            .status(),
        429
    );
    // Other names are not locked.
    assert_eq!(app.password_grant("spacey", SPACED).await.status(), 200);

    // Service accounts: /login's Identifier + Pass-Code and the client credentials grant.
    for _ in 0..3 {
        let res = app
            .client
            .post(format!("{}/login", app.base))
            .header("Identifier", "billing-batch")
            .header("Pass-Code", "guess")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    for _ in 0..2 {
        assert_eq!(
            app.client_grant("billing-batch", "guess").await.status(),
            401
        );
    }
    assert_eq!(
        app.client_grant("billing-batch", "pass-code-9")
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn discovery_names_the_token_endpoint_grants_and_scopes() {
    let app = spawn_with(oauth_spec("[token]\nissuer = \"https://login.example/\"\n")).await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["token_endpoint"], "https://login.example/token");
    assert_eq!(
        doc["grant_types_supported"],
        json!(["password", "client_credentials"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        doc["scopes_supported"],
        json!(["edit_org_users", "read_invoices", "view_org_users"])
    );
    assert_eq!(
        doc["jwks_uri"],
        "https://login.example/.well-known/jwks.json"
    );
    // RFC 8414's location serves the same document.
    let oauth: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(oauth, doc);
    // Without [permissions], no scopes_supported.
    let plain = spawn_app().await;
    let doc: Value = plain
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert!(doc.get("scopes_supported").is_none(), "{doc}");
    assert_eq!(doc["token_endpoint"], "http://127.0.0.1:8080/token");
}

/// `token.profile = "rfc9068"`: every token, from /login and /token, is an RFC 9068 access
/// token, and the verifier crate and /verify accept it.
#[tokio::test]
async fn rfc9068_profile_tokens() {
    let app = spawn_with(oauth_spec(
        "[token]\nprofile = \"rfc9068\"\naudience = [\"billing-api\"]\nclient_id = \"watchword-login\"\n",
    ))
    .await;
    let verifier = verifier_of(&app, Validation::default().with_audience(["billing-api"])).await;
    let cases = [
        (
            "/login",
            app.token("user_test", PASSWORD).await,
            "user_test",
            "watchword-login",
        ),
        (
            "password grant",
            granted(app.password_grant("user_test", PASSWORD).await)
                .await
                .1,
            "user_test",
            "watchword-login",
        ),
        (
            "password grant with a client",
            granted(
                app.token_request(
                    &form(&[
                        ("grant_type", "password"),
                        ("username", "user_test"),
                        ("password", PASSWORD),
                    ]),
                    Some(&basic_raw("billing-batch", "pass-code-9")),
                )
                .await,
            )
            .await
            .1,
            "user_test",
            "billing-batch",
        ),
        (
            "client credentials",
            granted(app.client_grant("odd-secret", ODD_SECRET).await)
                .await
                .1,
            "odd-secret",
            "odd-secret",
        ),
        (
            "/login service account",
            {
                let res = app
                    .client
                    .post(format!("{}/login", app.base))
                    .header("Identifier", "billing-batch")
                    .header("Pass-Code", "pass-code-9")
                    .send()
                    .await
                    .unwrap();
                let body: Value = res.json().await.unwrap();
                body["token"].as_str().unwrap().to_owned()
            },
            "billing-batch",
            "billing-batch",
        ),
    ];
    for (how, token, sub, client_id) in cases {
        let header = header_of(&token);
        assert_eq!(header["typ"], "at+jwt", "{how}");
        let c = claims_of(&token);
        assert_eq!(c["sub"], sub, "{how}");
        assert_eq!(c["client_id"], client_id, "{how}");
        assert_eq!(c["aud"], "billing-api", "{how}");
        assert!(c["iat"].is_i64() && c["exp"].is_i64(), "{how}");
        assert_eq!(c["jti"].as_str().unwrap().len(), 36, "{how}");
        assert!(c["iss"].is_string(), "{how}");
        let claims = verifier
            .verify(&token)
            .unwrap_or_else(|e| panic!("{how}: {e}"));
        assert_eq!(claims.client_id(), Some(client_id), "{how}");
        assert_eq!(verify_status(&app, &token).await, 200, "{how}");
    }
    // The default profile's tokens are unchanged: typ JWT, no client_id.
    let plain = spawn_with(oauth_spec("")).await;
    let token = granted(plain.client_grant("billing-batch", "pass-code-9").await)
        .await
        .1;
    assert_eq!(header_of(&token)["typ"], "JWT");
    assert!(claims_of(&token).get("client_id").is_none());
}

/// `/token` attempts are logins for the metrics: the same counters as `/login`'s.
#[tokio::test]
async fn token_attempts_are_counted_with_the_logins() {
    let app = spawn_with(oauth_spec("")).await;
    granted(app.password_grant("user_test", PASSWORD).await).await;
    granted(app.client_grant("billing-batch", "pass-code-9").await).await;
    refused(app.password_grant("user_test", "wrong").await).await;
    refused(app.client_grant("billing-batch", "wrong").await).await;
    refused(app.token_request("grant_type=implicit", None).await).await;
    let text = app.metrics().await.text().await.unwrap();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map_or(0, |v| v.parse::<f64>().unwrap() as i64)
    };
    assert_eq!(
        value(r#"watchword_logins_total{outcome="ok"}"#),
        2,
        "{text}"
    );
    assert_eq!(
        value(r#"watchword_logins_total{outcome="bad_credentials"}"#),
        2,
        "{text}"
    );
    assert_eq!(
        value(r#"watchword_logins_total{outcome="bad_request"}"#),
        1,
        "{text}"
    );
    assert_eq!(value("watchword_login_duration_seconds_count"), 5, "{text}");
}

/// A `client_id` that names a service account is a confidential client: a password grant that
/// names it without its secret (no secret, an empty one, over Basic too) is 401
/// `invalid_client`, never a public client (RFC 6749 §3.2.1). Before, it was taken as a
/// public client and the grant succeeded (hardening round 3, item 8). An unknown `client_id`
/// stays a public client; a disabled service account's identifier is still not public.
#[tokio::test]
async fn a_service_accounts_client_id_requires_its_secret() {
    let app = spawn_with(oauth_spec("")).await;
    let body = form(&[
        ("grant_type", "password"),
        ("username", "user_test"),
        ("password", PASSWORD),
    ]);
    for id in ["billing-batch", "retired-batch"] {
        for (extra, auth) in [
            (format!("&client_id={id}"), None),
            (format!("&client_id={id}&client_secret="), None),
            (String::new(), Some(basic_raw(id, ""))),
            (String::new(), Some(basic_encoded(id, ""))),
        ] {
            let res = app
                .token_request(&format!("{body}{extra}"), auth.as_deref())
                .await;
            assert!(
                res.headers().contains_key("www-authenticate"),
                "{id} {extra}"
            );
            let (status, error, _) = refused(res).await;
            assert_eq!(
                (status, error.as_str()),
                (401, "invalid_client"),
                "{id} {extra} {auth:?}"
            );
        }
    }
    let (_, token) = granted(
        app.token_request(&format!("{body}&client_id=some-app"), None)
            .await,
    )
    .await;
    assert_eq!(claims_of(&token)["sub"], "user_test");
}

/// A down-scoped token carries only its scopes: `permissions` lists exactly the granted scopes
/// (before, every permission of the account, so a `scope=view` token opened every route that
/// `require_permission` guards; hardening round 3, item 4). `/verify?scope=…` requires every
/// listed scope: 403 with `Bearer error="insufficient_scope"` otherwise.
#[tokio::test]
async fn scopes_narrow_the_token_and_verify_can_demand_them() {
    let app = spawn_with(oauth_spec("")).await;
    let body = form(&[
        ("grant_type", "password"),
        ("username", "user_test"),
        ("password", PASSWORD),
        ("scope", "view_org_users"),
    ]);
    let (_, scoped) = granted(app.token_request(&body, None).await).await;
    assert_eq!(claims_of(&scoped)["permissions"], json!(["view_org_users"]));
    let full = app.token("user_test", PASSWORD).await;
    assert_eq!(
        claims_of(&full)["permissions"],
        json!(["edit_org_users", "view_org_users"])
    );
    let verify = |token: String, query: &'static str| {
        let req = app
            .client
            .get(format!("{}/verify{query}", app.base))
            .bearer_auth(token);
        async move { req.send().await.unwrap() }
    };
    for (token, query, want) in [
        (&scoped, "?scope=view_org_users", 200),
        (&scoped, "?scope=edit_org_users", 403),
        (&scoped, "?scope=view_org_users%20edit_org_users", 403),
        (&scoped, "?scope=view_org_users&scope=edit_org_users", 403),
        (&scoped, "", 200),
        (&full, "?scope=view_org_users+edit_org_users", 200),
        (&full, "?scope=read_invoices", 403),
        (&full, "?scope=a%0Ab", 403),
    ] {
        let res = verify(token.clone(), query).await;
        assert_eq!(res.status(), want, "{query}");
        if want == 403 {
            assert_eq!(
                res.headers()["www-authenticate"],
                r#"Bearer error="insufficient_scope""#
            );
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["code"], 403);
            let message = body["message"].as_str().unwrap();
            assert!(message.starts_with("Missing required scope "), "{message}");
            // What a client put in the query comes back only as a scope token.
            assert!(!message.contains('\n'), "{message}");
        }
    }
}
