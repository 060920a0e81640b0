//! Logout and revocation that stateless verifiers see: `POST /logout` (access token and
//! refresh token), `watchword users logout NAME`, `/.well-known/revocations` (ETag, 304,
//! max-age) and a `watchword-verify` poller that refuses a logged-out token.

use std::time::Duration;

use serde_json::Value;
use watchword_verify::{RemoteOptions, Validation, Verifier, VerifyError};

use crate::database::eventually;
use crate::helpers::*;
use crate::sessions::{field, login_json, refresh_header, spawn_sessions};
use crate::users_cli::{cli, ok};

const FAST_POLL: &str = "revocation_poll = \"200ms\"\n";

async fn verify_status(app: &TestApp, token: &str) -> u16 {
    app.client
        .get(format!("{}/verify", app.base))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn logout(app: &TestApp, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = app.client.post(format!("{}/logout", app.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    status_body(req.send().await.unwrap()).await
}

/// `/logout` with the access token and the refresh token: both refused at once by this
/// process; unknown or repeated logouts are 200 too.
#[tokio::test]
async fn logout_ends_the_access_token_and_the_session() {
    let (app, _keys) = spawn_sessions(Store::Sqlite, FAST_POLL).await;
    let v = login_json(&app.base, &app.client, "user_test", PASSWORD).await;
    let (token, refresh) = (
        v["token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(verify_status(&app, &token).await, 200);
    let bearer = format!("Bearer {token}");
    let (status, body) = logout(
        &app,
        &[("Authorization", &bearer), ("Refresh-Token", &refresh)],
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"status":"ok","code":200}"#)
    );
    assert_eq!(verify_status(&app, &token).await, 401);
    let metrics = app.metrics().await.text().await.unwrap();
    for line in [
        "watchword_revocations_total{kind=\"session\"} 1",
        "watchword_revocations_total{kind=\"token\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    assert_eq!(
        refresh_header(&app.base, &app.client, &refresh).await.0,
        401
    );
    // Again, and unknown tokens: the same 200.
    for headers in [
        vec![("Authorization", bearer.as_str())],
        vec![("Refresh-Token", "not-a-token")],
        vec![("Authorization", "Bearer x.y.z")],
    ] {
        assert_eq!(logout(&app, &headers).await.0, 200);
    }
    assert_eq!(logout(&app, &[]).await.0, 400);
    // Another login of the same user is untouched.
    let other = login_json(&app.base, &app.client, "user_test", PASSWORD).await;
    assert_eq!(
        verify_status(&app, other["token"].as_str().unwrap()).await,
        200
    );
}

/// The published list: named by discovery, cacheable for the poll interval, 304 for an
/// unchanged ETag, and a new ETag once something is revoked.
#[tokio::test]
async fn the_revocation_list_is_published_with_an_etag() {
    let (app, _keys) = spawn_sessions(Store::Sqlite, "revocation_poll = \"3s\"\n").await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["revocations_uri"].as_str().unwrap(),
        format!(
            "{}/.well-known/revocations",
            doc["issuer"].as_str().unwrap()
        )
    );
    assert!(doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&Value::from("refresh_token")));
    let res = app.get("/.well-known/revocations").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "public, max-age=3");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(res.text().await.unwrap(), r#"{"tokens":{},"subjects":{}}"#);
    let again = app
        .client
        .get(format!("{}/.well-known/revocations", app.base))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let v = login_json(&app.base, &app.client, "user_test", PASSWORD).await;
    let token = v["token"].as_str().unwrap();
    logout(&app, &[("Authorization", &format!("Bearer {token}"))]).await;
    let changed = app
        .client
        .get(format!("{}/.well-known/revocations", app.base))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    let list: Value = changed.json().await.unwrap();
    assert_eq!(list["tokens"].as_object().unwrap().len(), 1);
}

/// A sibling service's Verifier (keys from the JWKS, the list polled every 200 ms) refuses a
/// logged-out token with the `revoked` reason, without asking the login service per token.
#[tokio::test]
async fn a_polling_verifier_refuses_a_logged_out_token() {
    let (app, _keys) = spawn_sessions(Store::Sqlite, FAST_POLL).await;
    let verifier = Verifier::from_url(
        &format!("{}/.well-known/jwks.json", app.base),
        Validation::default(),
        RemoteOptions::default(),
    )
    .await
    .unwrap();
    verifier
        .poll_revocations(
            &format!("{}/.well-known/revocations", app.base),
            Duration::from_millis(200),
        )
        .await
        .unwrap();
    let v = login_json(&app.base, &app.client, "user_test", PASSWORD).await;
    let token = v["token"].as_str().unwrap().to_owned();
    assert!(verifier.verify(&token).is_ok());
    logout(&app, &[("Authorization", &format!("Bearer {token}"))]).await;
    eventually("the poller to see the logout", || {
        let result = verifier.verify(&token);
        async move { matches!(result, Err(VerifyError::Revoked)) }
    })
    .await;
    assert_eq!(VerifyError::Revoked.reason(), "revoked");
}

/// `watchword users logout NAME` (another process, on the same database): every earlier
/// access token of NAME is refused by /verify within the poll interval and its refresh
/// tokens at once; a token issued after that second works.
#[tokio::test]
async fn users_logout_refuses_every_earlier_token_and_later_ones_work() {
    let (app, _keys) = spawn_sessions(Store::Sqlite, FAST_POLL).await;
    let first = login_json(&app.base, &app.client, "user_test", PASSWORD).await;
    let second = login_json(&app.base, &app.client, "user_test", PASSWORD).await;
    let other = login_json(&app.base, &app.client, "spacey", SPACED).await;
    let tokens: Vec<String> = [&first, &second]
        .iter()
        .map(|v| v["token"].as_str().unwrap().to_owned())
        .collect();
    for t in &tokens {
        assert_eq!(verify_status(&app, t).await, 200);
    }
    let out = cli(&app.config_path, &["users", "logout", "user_test"], "");
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2 sessions ended"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in &tokens {
        eventually("/verify to refuse an earlier token", || async {
            verify_status(&app, t).await == 401
        })
        .await;
    }
    let refresh = field(&second.to_string(), "refresh_token");
    assert_eq!(
        refresh_header(&app.base, &app.client, &refresh).await.0,
        401
    );
    // Someone else is untouched.
    assert_eq!(
        verify_status(&app, other["token"].as_str().unwrap()).await,
        200
    );
    // A token issued in the second of the logout is refused too (iat has whole seconds);
    // one issued after it works.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(
        1000 - u64::from(now.subsec_millis()) + 50,
    ))
    .await;
    let later = login_json(&app.base, &app.client, "user_test", PASSWORD).await;
    assert_eq!(
        verify_status(&app, later["token"].as_str().unwrap()).await,
        200
    );
    let (status, _) = refresh_header(
        &app.base,
        &app.client,
        later["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 200);
}

/// `POST /revoke` or `/introspect` with a form and optional Basic credentials.
async fn token_query(
    app: &TestApp,
    path: &str,
    token: &str,
    basic: Option<(&str, &str)>,
) -> (u16, String) {
    let mut req = app
        .client
        .post(format!("{}{path}", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(crate::oauth::form(&[("token", token)]));
    if let Some((id, secret)) = basic {
        req = req.header("Authorization", crate::oauth::basic_raw(id, secret));
    }
    let res = req.send().await.unwrap();
    if path == "/revoke" && res.status() == 200 {
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
    status_body(res).await
}

const BATCH: Option<(&str, &str)> = Some(("billing-batch", "pass-code-9"));

async fn password_grant(app: &TestApp, basic: Option<(&str, &str)>) -> Value {
    let mut req = app
        .client
        .post(format!("{}/token", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(crate::oauth::form(&[
            ("grant_type", "password"),
            ("username", "user_test"),
            ("password", PASSWORD),
        ]));
    if let Some((id, secret)) = basic {
        req = req.header("Authorization", crate::oauth::basic_raw(id, secret));
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// RFC 7009: a token issued without a client is revoked by presenting it; one issued to a
/// confidential client only by that client (401 invalid_client and nothing revoked
/// otherwise); unknown tokens are 200.
#[tokio::test]
async fn revoke_follows_rfc_7009() {
    let (app, _keys) = spawn_sessions(Store::Sqlite, FAST_POLL).await;
    let v = login_json(&app.base, &app.client, "user_test", PASSWORD).await;
    let (access, refresh) = (
        v["token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(token_query(&app, "/revoke", &refresh, None).await.0, 200);
    assert_eq!(
        refresh_header(&app.base, &app.client, &refresh).await.0,
        401
    );
    assert_eq!(token_query(&app, "/revoke", &access, None).await.0, 200);
    assert_eq!(verify_status(&app, &access).await, 401);
    assert_eq!(
        token_query(&app, "/revoke", "unknown", None).await,
        (200, String::new())
    );

    // Issued to billing-batch: only billing-batch revokes it.
    let v = password_grant(&app, BATCH).await;
    let confidential = v["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = token_query(&app, "/revoke", &confidential, None).await;
    assert_eq!(
        (status, field(&body, "error").as_str()),
        (401, "invalid_client")
    );
    let (_, body) = token_query(&app, "/introspect", &confidential, BATCH).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["active"],
        true
    );
    assert_eq!(
        token_query(&app, "/revoke", &confidential, BATCH).await.0,
        200
    );
    let (_, body) = token_query(&app, "/introspect", &confidential, BATCH).await;
    assert_eq!(body, r#"{"active":false}"#);

    // A client credentials token is billing-batch's own.
    let res = app
        .client
        .post(format!("{}/token", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "Authorization",
            crate::oauth::basic_raw("billing-batch", "pass-code-9"),
        )
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let own = field(&res.text().await.unwrap(), "access_token");
    assert_eq!(token_query(&app, "/revoke", &own, None).await.0, 401);
    assert_eq!(verify_status(&app, &own).await, 200);
    assert_eq!(token_query(&app, "/revoke", &own, BATCH).await.0, 200);
    assert_eq!(verify_status(&app, &own).await, 401);
}

/// RFC 7662 for service accounts: others get 401; active tokens are described, anything
/// else is {"active":false}.
#[tokio::test]
async fn introspect_answers_service_accounts_only() {
    let (app, _keys) = spawn_sessions(Store::Sqlite, FAST_POLL).await;
    let v = login_json(&app.base, &app.client, "user_test", PASSWORD).await;
    let (access, refresh) = (
        v["token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap().to_owned(),
    );
    let (status, body) = token_query(&app, "/introspect", &access, None).await;
    assert_eq!(
        (status, field(&body, "error").as_str()),
        (401, "invalid_client")
    );
    let (status, _) = token_query(
        &app,
        "/introspect",
        &access,
        Some(("billing-batch", "wrong")),
    )
    .await;
    assert_eq!(status, 401);

    let (status, body) = token_query(&app, "/introspect", &access, BATCH).await;
    assert_eq!(status, 200);
    let a: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(a["active"], true);
    assert_eq!(a["sub"], "user_test");
    assert_eq!(a["token_type"], "Bearer");
    for key in ["exp", "iat", "iss", "jti"] {
        assert!(!a[key].is_null(), "{key}: {body}");
    }
    let (_, body) = token_query(&app, "/introspect", &refresh, BATCH).await;
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (r["active"].clone(), r["token_type"].clone()),
        (Value::from(true), Value::from("refresh_token"))
    );
    assert_eq!(r["sub"], "user_test");
    for garbage in ["x", "a.b.c", &format!("{access}x")] {
        let (_, body) = token_query(&app, "/introspect", garbage, BATCH).await;
        assert_eq!(body, r#"{"active":false}"#);
    }
    logout(&app, &[("Authorization", &format!("Bearer {access}"))]).await;
    let (_, body) = token_query(&app, "/introspect", &access, BATCH).await;
    assert_eq!(body, r#"{"active":false}"#);
}
