//! The seeds' other login styles on `/login`: JSON body, HTTP Basic, organisations and units,
//! service accounts, permissions and stable user ids — with the same envelope and the same
//! security rules as the header login.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

use crate::helpers::*;

const UID: &str = "c3fb688d-4aca-42d4-9db1-cc268c465892";

fn styles_spec(extra_config: &str) -> Spec {
    let mut users = users_toml();
    users.push_str(&format!(
        r#"
[[users]]
name = "mpadministrator"
password_hash = "{}"
roles = ["admin"]
organisations = ["CRMDEMO", "OTHER"]
units = ["EE63A82C4FEBE02FF34E90DD1EBA5ABE"]
id = "{UID}"

[[service_accounts]]
identifier = "billing-batch"
pass_code_hash = "{}"
roles = ["batch"]
"#,
        hash("1234"),
        hash("pass-code-9")
    ));
    Spec {
        users,
        config: format!(
            "[token]\nservice_ttl = \"5m\"\n[permissions]\nadmin = [\"view_org_users\", \"edit_org_users\"]\n\
             batch = [\"read_invoices\"]\n{extra_config}"
        ),
        ..Spec::default()
    }
}

fn envelope(code: u16, message: &str) -> String {
    format!(r#"{{"status":"error","code":{code},"message":"{message}"}}"#)
}

impl TestApp {
    async fn post_json(&self, body: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/login", self.base))
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn token_of(res: reqwest::Response) -> (Value, String) {
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    (body, token)
}

#[tokio::test]
async fn json_body_login_and_its_errors() {
    let app = spawn_with(styles_spec("")).await;
    let (_, token) = token_of(
        app.post_json(r#"{"username":"user_test","password":"password_test"}"#)
            .await,
    )
    .await;
    assert_eq!(claims_of(&token)["sub"], "user_test");
    // Unknown fields of the seeds' clients are ignored.
    let res = app
        .post_json(r#"{"username":"user_test","password":"password_test","remember_me":"x"}"#)
        .await;
    assert_eq!(res.status(), 200);
    // charset parameter is fine.
    let res = app
        .client
        .post(format!("{}/login", app.base))
        .header("Content-Type", "application/json; charset=utf-8")
        .body(r#"{"username":"user_test","password":"password_test"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let cases = [
        (
            r#"{"password":"password_test"}"#,
            400,
            envelope(402, "Required field username is not specified."),
        ),
        (
            r#"{"username":"user_test"}"#,
            400,
            envelope(402, "Required field password is not specified."),
        ),
        (
            r#"{"username":"","password":"x"}"#,
            400,
            envelope(402, "Required field username is empty."),
        ),
        (
            r#"{"username":"user_test","password":""}"#,
            400,
            envelope(402, "Required field password is empty."),
        ),
        (
            r#"{"username":"user_test","password":"nope"}"#,
            401,
            envelope(401, "Invalid user name or password."),
        ),
        (
            r#"{"username":"nobody","password":"nope"}"#,
            401,
            envelope(401, "Invalid user name or password."),
        ),
        (
            r#"not json"#,
            400,
            envelope(400, "Body is not a JSON object with string fields."),
        ),
        (
            r#"{"username":5,"password":"x"}"#,
            400,
            envelope(400, "Body is not a JSON object with string fields."),
        ),
        (
            r#"{"username":"a","username":"b","password":"x"}"#,
            400,
            envelope(400, "Body is not a JSON object with string fields."),
        ),
    ];
    for (body, status, expected) in cases {
        let res = app.post_json(body).await;
        assert_eq!(status_body(res).await, (status, expected), "{body}");
    }
    // The uniform 401 is byte-identical to the header style's.
    let header_401 = status_body(app.login(&Method::Post, "user_test", "nope").await).await;
    let json_401 = status_body(
        app.post_json(r#"{"username":"user_test","password":"nope2"}"#)
            .await,
    )
    .await;
    assert_eq!(header_401, json_401);

    // Credentials in headers and body.
    let res = app
        .client
        .post(format!("{}/login", app.base))
        .headers(creds("user_test", PASSWORD))
        .header("Content-Type", "application/json")
        .body(r#"{"username":"user_test","password":"password_test"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_body(res).await,
        (400, envelope(400, "Credentials given twice."))
    );
    // Another content type, and an oversized body.
    let res = app
        .client
        .post(format!("{}/login", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("username=user_test&password=password_test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_body(res).await,
        (
            415,
            envelope(415, "Unsupported content type; send application/json.")
        )
    );
    let huge = format!(
        r#"{{"username":"user_test","password":"{}"}}"#,
        "p".repeat(5000)
    );
    assert_eq!(
        status_body(app.post_json(&huge).await).await,
        (400, envelope(400, "Body is larger than 4096 bytes."))
    );
    let long = format!(
        r#"{{"username":"user_test","password":"{}"}}"#,
        "p".repeat(1025)
    );
    assert_eq!(
        status_body(app.post_json(&long).await).await,
        (
            400,
            envelope(400, "Field password is longer than 1024 bytes.")
        )
    );
}

#[tokio::test]
async fn basic_auth_login() {
    let app = spawn_with(styles_spec("")).await;
    let basic = |user: &str, pw: &str| format!("Basic {}", STANDARD.encode(format!("{user}:{pw}")));
    let send = |value: String| {
        app.client
            .post(format!("{}/login", app.base))
            .header("Authorization", value)
            .send()
    };
    let (_, token) = token_of(send(basic("user_test", PASSWORD)).await.unwrap()).await;
    assert_eq!(claims_of(&token)["sub"], "user_test");
    // Passwords may contain ':'; the user name ends at the first one.
    let res = send(basic("user_test", "pass:word")).await.unwrap();
    let header_401 = status_body(app.login(&Method::Post, "user_test", "nope").await).await;
    assert_eq!(status_body(res).await, header_401, "uniform 401");
    assert_eq!(
        status_body(send(basic("", "x")).await.unwrap()).await,
        (400, envelope(402, "Required field User-Name is empty."))
    );
    assert_eq!(
        status_body(send(basic("user_test", "")).await.unwrap()).await,
        (400, envelope(402, "Required field Password is empty."))
    );
    assert_eq!(
        status_body(send("Basic !!!".into()).await.unwrap()).await,
        (
            400,
            envelope(400, "Field Authorization is not valid Basic credentials.")
        )
    );
    assert_eq!(
        status_body(
            send(format!("Basic {}", STANDARD.encode("no-colon")))
                .await
                .unwrap()
        )
        .await,
        (
            400,
            envelope(400, "Field Authorization is not valid Basic credentials.")
        )
    );
    let mut both = creds("user_test", PASSWORD);
    both.insert(
        "Authorization",
        HeaderValue::from_str(&basic("user_test", PASSWORD)).unwrap(),
    );
    assert_eq!(
        status_body(app.login_with(&Method::Post, both).await).await,
        (400, envelope(400, "Credentials given twice."))
    );
}

#[tokio::test]
async fn organisations_units_and_stable_ids() {
    let app = spawn_with(styles_spec("")).await;
    let mut h = creds("mpadministrator", "1234");
    h.insert("Organisation", HeaderValue::from_static("CRMDEMO"));
    h.insert(
        "Unit",
        HeaderValue::from_static("EE63A82C4FEBE02FF34E90DD1EBA5ABE"),
    );
    let (_, token) = token_of(app.login_with(&Method::Post, h).await).await;
    let c = claims_of(&token);
    assert_eq!(c["org"], "CRMDEMO");
    assert_eq!(c["unit"], "EE63A82C4FEBE02FF34E90DD1EBA5ABE");
    assert_eq!(c["uid"], UID);
    assert_eq!(
        c["permissions"],
        json!(["edit_org_users", "view_org_users"])
    );

    // The seed-003 body, as its clients send it.
    let (_, token) = token_of(app.post_json(r#"{"username":"mpadministrator","password":"1234","organisation":"CRMDEMO","unit":"EE63A82C4FEBE02FF34E90DD1EBA5ABE"}"#).await).await;
    assert_eq!(claims_of(&token)["org"], "CRMDEMO");

    // Outside the organisation or unit: the uniform 401, even with the right password.
    let uniform = status_body(app.login(&Method::Post, "user_test", "nope").await).await;
    for (org, unit) in [("ELSEWHERE", None), ("CRMDEMO", Some("OTHERUNIT"))] {
        let mut h = creds("mpadministrator", "1234");
        h.insert("Organisation", HeaderValue::from_str(org).unwrap());
        if let Some(u) = unit {
            h.insert("Unit", HeaderValue::from_str(u).unwrap());
        }
        assert_eq!(
            status_body(app.login_with(&Method::Post, h).await).await,
            uniform,
            "{org}"
        );
    }
    let mut h = creds("user_test", PASSWORD);
    h.insert("Organisation", HeaderValue::from_static("CRMDEMO"));
    assert_eq!(
        status_body(app.login_with(&Method::Post, h).await).await,
        uniform,
        "user without organisations"
    );
    // Without an organisation, a member logs in without org claim (not required by default).
    let (_, token) = token_of(app.login(&Method::Post, "mpadministrator", "1234").await).await;
    assert!(claims_of(&token).get("org").is_none());

    let strict = spawn_with(styles_spec("[login]\nrequire_organisation = true\n")).await;
    let res = strict.login(&Method::Post, "mpadministrator", "1234").await;
    assert_eq!(
        status_body(res).await,
        (
            400,
            envelope(402, "Required field Organisation is not specified.")
        )
    );
    let res = strict
        .post_json(r#"{"username":"mpadministrator","password":"1234"}"#)
        .await;
    assert_eq!(
        status_body(res).await,
        (
            400,
            envelope(402, "Required field organisation is not specified.")
        )
    );
    let mut h = creds("mpadministrator", "1234");
    h.insert("Organisation", HeaderValue::from_static("OTHER"));
    assert_eq!(strict.login_with(&Method::Post, h).await.status(), 200);
}

#[tokio::test]
async fn service_accounts_get_service_tokens_with_their_own_ttl() {
    let app = spawn_with(styles_spec("")).await;
    let mut h = HeaderMap::new();
    h.insert("Identifier", HeaderValue::from_static("billing-batch"));
    h.insert("Pass-Code", HeaderValue::from_static("pass-code-9"));
    let (body, token) = token_of(app.login_with(&Method::Post, h).await).await;
    assert_eq!(body["expires_in"], 300);
    let jwks = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    let verifier = watchword_verify::Verifier::from_jwks_json(&jwks, Default::default()).unwrap();
    let claims = verifier.verify(&token).unwrap();
    assert_eq!(claims.sub, "billing-batch");
    assert_eq!(claims.extra["kind"], "service");
    assert_eq!(claims.extra["permissions"], json!(["read_invoices"]));
    assert_eq!(claims.exp - claims.iat.unwrap(), 300);

    let (_, token) = token_of(
        app.post_json(r#"{"identifier":"billing-batch","pass_code":"pass-code-9"}"#)
            .await,
    )
    .await;
    assert_eq!(claims_of(&token)["kind"], "service");

    let uniform = status_body(app.login(&Method::Post, "user_test", "nope").await).await;
    for (id, code) in [
        ("billing-batch", "wrong"),
        ("no-such-service", "pass-code-9"),
        ("user_test", PASSWORD),
    ] {
        let mut h = HeaderMap::new();
        h.insert("Identifier", HeaderValue::from_str(id).unwrap());
        h.insert("Pass-Code", HeaderValue::from_str(code).unwrap());
        assert_eq!(
            status_body(app.login_with(&Method::Post, h).await).await,
            uniform,
            "{id}"
        );
    }
    let mut h = HeaderMap::new();
    h.insert("Identifier", HeaderValue::from_static("billing-batch"));
    assert_eq!(
        status_body(app.login_with(&Method::Post, h).await).await,
        (
            400,
            envelope(402, "Required field Pass-Code is not specified.")
        )
    );
    let res = app.post_json(r#"{"identifier":"billing-batch"}"#).await;
    assert_eq!(
        status_body(res).await,
        (
            400,
            envelope(402, "Required field pass_code is not specified.")
        )
    );
    let res = app.post_json(r#"{"identifier":"billing-batch","pass_code":"pass-code-9","username":"user_test","password":"x"}"#).await;
    assert_eq!(
        status_body(res).await,
        (400, envelope(400, "Credentials given twice."))
    );
}

/// Every style goes through the same throttle and costs the same for unknown names.
#[tokio::test]
async fn every_style_is_throttled() {
    let app = spawn_with(styles_spec("")).await;
    for _ in 0..5 {
        assert_eq!(
            app.post_json(r#"{"username":"user_test","password":"guess"}"#)
                .await
                .status(),
            401
        );
    }
    // The same account through another style is locked too (one counter per name and address).
    assert_eq!(
        app.login(&Method::Post, "user_test", PASSWORD)
            .await
            .status(),
        429
    );
    let basic = format!("Basic {}", STANDARD.encode("user_test:password_test"));
    let res = app
        .client
        .post(format!("{}/login", app.base))
        .header("Authorization", basic)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    for _ in 0..5 {
        assert_eq!(
            app.post_json(r#"{"identifier":"billing-batch","pass_code":"guess"}"#)
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        app.post_json(r#"{"identifier":"billing-batch","pass_code":"pass-code-9"}"#)
            .await
            .status(),
        429
    );
}

/// A sibling service guarding a route by permission answers 403 without it, 200 with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_guard_in_a_sibling_service() {
    use actix_web::{get, web, App, HttpServer};
    use watchword_verify::actix::{AuthError, Authenticated};

    #[get("/users")]
    async fn users(auth: Authenticated) -> Result<String, AuthError> {
        auth.require_permission("view_org_users")?;
        Ok("ok".into())
    }

    let app = spawn_with(styles_spec("")).await;
    let jwks = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    let verifier = web::Data::new(
        watchword_verify::Verifier::from_jwks_json(&jwks, Default::default()).unwrap(),
    );
    let server = HttpServer::new(move || App::new().app_data(verifier.clone()).service(users))
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    let admin = app.token("mpadministrator", "1234").await;
    let plain = app.token("spacey", SPACED).await; // no roles, so no permissions
    let get = |t: String| {
        app.client
            .get(format!("http://{addr}/users"))
            .bearer_auth(t)
            .send()
    };
    assert_eq!(get(admin).await.unwrap().status(), 200);
    let res = get(plain).await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], 403);
}
