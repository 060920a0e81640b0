//! Every row of the `/login` answer table, for GET and POST.

use reqwest::header::{HeaderMap, HeaderValue};

use crate::helpers::*;

fn envelope(code: u16, message: &str) -> String {
    format!(r#"{{"status":"error","code":{code},"message":"{message}"}}"#)
}

#[tokio::test]
async fn success_returns_a_token_in_the_envelope() {
    let app = spawn_app().await;
    for m in METHODS {
        let res = app.login(&m, "user_test", PASSWORD).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.headers()["content-type"], "application/json");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["code"], 200);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 1800);
        assert_eq!(body["token"].as_str().unwrap().split('.').count(), 3);
        assert!(body.get("message").is_none());
    }
}

#[tokio::test]
async fn header_names_are_case_insensitive() {
    let app = spawn_app().await;
    let mut h = HeaderMap::new();
    h.insert("user-name", HeaderValue::from_static("user_test"));
    h.insert("PASSWORD", HeaderValue::from_static(PASSWORD));
    assert_eq!(app.login_with(&Method::Get, h).await.status(), 200);
}

#[tokio::test]
async fn missing_headers_get_code_402() {
    let app = spawn_app().await;
    for m in METHODS {
        let mut only_password = HeaderMap::new();
        only_password.insert("Password", HeaderValue::from_static(PASSWORD));
        let res = app.login_with(&m, only_password).await;
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(
            status_body(res).await,
            (
                400,
                envelope(402, "Required field User-Name is not specified.")
            )
        );

        let mut only_user = HeaderMap::new();
        only_user.insert("User-Name", HeaderValue::from_static("user_test"));
        let res = app.login_with(&m, only_user).await;
        assert_eq!(
            status_body(res).await,
            (
                400,
                envelope(402, "Required field Password is not specified.")
            )
        );

        let res = app.login_with(&m, HeaderMap::new()).await;
        assert_eq!(
            status_body(res).await,
            (
                400,
                envelope(402, "Required field User-Name is not specified.")
            )
        );
    }
}

#[tokio::test]
async fn empty_headers_get_code_402() {
    let app = spawn_app().await;
    for m in METHODS {
        let res = app.login(&m, "user_test", "").await;
        assert_eq!(
            status_body(res).await,
            (400, envelope(402, "Required field Password is empty."))
        );
        let res = app.login(&m, "", PASSWORD).await;
        assert_eq!(
            status_body(res).await,
            (400, envelope(402, "Required field User-Name is empty."))
        );
    }
}

#[tokio::test]
async fn unknown_user_wrong_password_and_disabled_user_are_indistinguishable() {
    let app = spawn_app().await;
    for m in METHODS {
        let res = app.login(&m, "user_test", "password_tesT").await;
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm="));
        let wrong = status_body(res).await;
        let unknown = status_body(app.login(&m, "nobody", PASSWORD).await).await;
        let disabled = status_body(app.login(&m, "disabled_user", PASSWORD).await).await;
        assert_eq!(
            wrong,
            (401, envelope(401, "Invalid user name or password."))
        );
        assert_eq!(unknown, wrong);
        assert_eq!(disabled, wrong);
    }
}

#[tokio::test]
async fn repeated_oversized_and_non_utf8_headers_get_400_naming_the_field() {
    let app = spawn_app().await;
    for m in METHODS {
        let mut twice = creds("user_test", PASSWORD);
        twice.append("User-Name", HeaderValue::from_static("someone_else"));
        let res = app.login_with(&m, twice).await;
        assert_eq!(
            status_body(res).await,
            (
                400,
                envelope(400, "Field User-Name is given more than once.")
            )
        );

        let mut twice = creds("user_test", PASSWORD);
        twice.append("Password", HeaderValue::from_static(PASSWORD));
        let res = app.login_with(&m, twice).await;
        assert_eq!(
            status_body(res).await,
            (
                400,
                envelope(400, "Field Password is given more than once.")
            )
        );

        let res = app.login(&m, &"u".repeat(257), PASSWORD).await;
        assert_eq!(
            status_body(res).await,
            (
                400,
                envelope(400, "Field User-Name is longer than 256 bytes.")
            )
        );
        let res = app.login(&m, "user_test", &"p".repeat(1025)).await;
        assert_eq!(
            status_body(res).await,
            (
                400,
                envelope(400, "Field Password is longer than 1024 bytes.")
            )
        );
        // At the limits exactly, the request is checked normally.
        let res = app.login(&m, &"u".repeat(256), &"p".repeat(1024)).await;
        assert_eq!(res.status(), 401);

        let mut bad = creds("user_test", PASSWORD);
        bad.insert(
            "Password",
            HeaderValue::from_bytes(&[0x70, 0xff, 0xfe]).unwrap(),
        );
        let res = app.login_with(&m, bad).await;
        assert_eq!(
            status_body(res).await,
            (400, envelope(400, "Field Password is not valid UTF-8."))
        );
        let mut bad = creds("user_test", PASSWORD);
        bad.insert("User-Name", HeaderValue::from_bytes(&[0xc3, 0x28]).unwrap());
        let res = app.login_with(&m, bad).await;
        assert_eq!(
            status_body(res).await,
            (400, envelope(400, "Field User-Name is not valid UTF-8."))
        );
    }
}

#[tokio::test]
async fn unknown_route_and_wrong_method_use_the_envelope() {
    let app = spawn_app().await;
    let res = app.get("/nope").await;
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(status_body(res).await, (404, envelope(404, "Not found.")));
    let res = app
        .client
        .put(format!("{}/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_body(res).await,
        (405, envelope(405, "Method not allowed."))
    );
    let res = app
        .client
        .delete(format!("{}/login", app.base))
        .headers(creds("user_test", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_body(res).await,
        (405, envelope(405, "Method not allowed."))
    );
}

#[tokio::test]
async fn passwords_with_spaces_and_unicode_in_either_normal_form_log_in() {
    let app = spawn_app().await;
    assert_eq!(
        app.login(&Method::Post, "spacey", SPACED).await.status(),
        200
    );
    // Stored from the decomposed form; both forms log in because both sides are NFC-normalised.
    assert_eq!(
        app.login(&Method::Post, "ünicode", UNICODE_NFC)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.login(&Method::Get, "ünicode", UNICODE_NFD)
            .await
            .status(),
        200
    );
    // One byte off does not.
    let mut off = UNICODE_NFC.as_bytes().to_vec();
    *off.last_mut().unwrap() ^= 1;
    let off = String::from_utf8(off).unwrap();
    assert_eq!(
        app.login(&Method::Post, "ünicode", &off).await.status(),
        401
    );
    assert_eq!(
        app.login(&Method::Post, "spacey", &SPACED.replace("  ", " "))
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login(&Method::Post, "user_test", "password_tes")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login(&Method::Post, "user_test", "password_test ")
            .await
            .status(),
        200,
        "HTTP drops trailing whitespace of a header value, as README says"
    );
}

#[tokio::test]
async fn healthz_answers() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(
        status_body(res).await,
        (200, r#"{"status":"ok","code":200}"#.to_owned())
    );
}

/// Account names are stored and looked up in Unicode NFC: "ünicode" typed with a combining
/// diaeresis (NFD, as macOS keyboards send it) logs into the account written precomposed, on
/// every login style and on /token. Before, only the exact bytes matched (hardening round 3,
/// item 14).
#[tokio::test]
async fn a_name_in_nfd_logs_into_the_nfc_account_everywhere() {
    use base64::Engine;
    let app = spawn_app().await;
    let nfd = "u\u{308}nicode";
    assert_ne!(nfd, "ünicode");
    assert_eq!(
        app.login(&Method::Post, nfd, UNICODE_NFC).await.status(),
        200,
        "headers"
    );
    let json = app
        .client
        .post(format!("{}/login", app.base))
        .header("Content-Type", "application/json")
        .body(serde_json::json!({"username": nfd, "password": UNICODE_NFC}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200, "JSON");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{nfd}:{UNICODE_NFC}"));
    let res = app
        .client
        .post(format!("{}/login", app.base))
        .header("Authorization", format!("Basic {basic}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "Basic");
    let form = format!(
        "grant_type=password&username={}&password={}",
        crate::oauth::urlencode(nfd),
        crate::oauth::urlencode(UNICODE_NFC)
    );
    let res = app
        .client
        .post(format!("{}/token", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "/token");
    let body: serde_json::Value = res.json().await.unwrap();
    let claims = crate::oauth::claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["sub"], "ünicode",
        "the token names the account as stored"
    );
}
