//! The `Authenticated` extractor inside a real actix-web server on 127.0.0.1:0, over HTTP.

use std::net::TcpListener;

use actix_web::{web, App, HttpServer};
use serde_json::{json, Value};
use watchword_verify::actix::{AuthError, Authenticated};

use crate::common::*;

async fn hello(auth: Authenticated) -> String {
    format!("hello {}", auth.claims().sub)
}

async fn admin(auth: Authenticated) -> Result<String, AuthError> {
    auth.require_role("admin")?;
    Ok(format!("admin {}", auth.into_claims().sub))
}

async fn reports(auth: Authenticated) -> Result<String, AuthError> {
    auth.require_permission("reports:read")?;
    Ok("reports".into())
}

async fn invoices(auth: Authenticated) -> Result<String, AuthError> {
    auth.require_scope("read_invoices")?;
    Ok("invoices".into())
}

struct Server {
    base: String,
    handle: actix_web::dev::ServerHandle,
}

/// `/hello`, `/admin`, `/reports` with the verifier as `web::Data`; `/plain/hello` with a plain
/// `Verifier` in app data; `/none/hello` without any verifier.
fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let data = web::Data::new(verifier());
    let plain = verifier();
    let server = HttpServer::new(move || {
        App::new()
            .service(
                web::scope("/plain")
                    .app_data(plain.clone())
                    .route("/hello", web::get().to(hello)),
            )
            .service(web::scope("/none").route("/hello", web::get().to(hello)))
            .service(
                web::scope("")
                    .app_data(data.clone())
                    .route("/hello", web::get().to(hello))
                    .route("/admin", web::get().to(admin))
                    .route("/reports", web::get().to(reports))
                    .route("/invoices", web::get().to(invoices)),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Server { base, handle }
}

async fn get(url: &str, auth: Option<&str>) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

fn envelope(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn assert_json_error(headers: &reqwest::header::HeaderMap) {
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn extractor_answers_401_200_403_500() {
    let server = start();
    let base = &server.base;

    // No token: 401, bare Bearer challenge (RFC 6750 §3.1), envelope.
    let (status, headers, body) = get(&format!("{base}/hello"), None).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_json_error(&headers);
    assert_eq!(
        envelope(&body),
        json!({"status": "error", "code": 401, "message": "Missing token."})
    );

    // Bad token: 401 invalid_token with the reason code; the token is not echoed.
    let expired = ed().token(&{
        let mut c = claims();
        c["exp"] = json!(now() - 3600);
        c
    });
    let (status, headers, body) =
        get(&format!("{base}/hello"), Some(&format!("Bearer {expired}"))).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="expired""#
    );
    assert_json_error(&headers);
    assert_eq!(envelope(&body)["code"], 401);
    assert_eq!(
        envelope(&body)["message"],
        "Invalid token: token has expired."
    );
    assert!(!body.contains(&expired));
    let (status, headers, _) = get(&format!("{base}/hello"), Some("Basic dXNlcjpwYXNz")).await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with(r#"Bearer error="invalid_token""#));

    // Two Authorization headers, even two copies of a valid token: 401 invalid_request, since
    // a proxy or another layer may read the other one.
    let token = ec().token(&claims());
    for second in [format!("Bearer {token}"), "Bearer a.b.c".to_owned()] {
        let res = reqwest::Client::new()
            .get(format!("{base}/hello"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Authorization", second)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"Bearer error="invalid_request", error_description="repeated_authorization""#
        );
        assert_json_error(res.headers());
        assert_eq!(
            envelope(&res.text().await.unwrap()),
            json!({"status": "error", "code": 401,
                   "message": "Invalid request: more than one Authorization header."})
        );
    }

    // Valid token, both schemes, both ways of registering the verifier.
    let token = ec().token(&claims());
    for auth in [format!("Bearer {token}"), format!("Token {token}")] {
        let (status, _, body) = get(&format!("{base}/hello"), Some(&auth)).await;
        assert_eq!((status, body.as_str()), (200, "hello alice"));
    }
    let (status, _, body) = get(
        &format!("{base}/plain/hello"),
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "hello alice"));

    // Missing role: 403 insufficient_scope.
    let (status, headers, body) =
        get(&format!("{base}/admin"), Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 403);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer error="insufficient_scope""#
    );
    assert_json_error(&headers);
    assert_eq!(
        envelope(&body),
        json!({"status": "error", "code": 403, "message": "Missing required role admin."})
    );
    let mut admin_claims = claims();
    admin_claims["roles"] = json!(["user", "admin"]);
    let admin_token = rsa().token(&admin_claims);
    let (status, _, body) = get(
        &format!("{base}/admin"),
        Some(&format!("Bearer {admin_token}")),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "admin alice"));

    // Permissions from the `permissions` claim.
    let (status, _, body) = get(&format!("{base}/reports"), Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 403);
    assert_eq!(
        envelope(&body)["message"],
        "Missing required permission reports:read."
    );
    let mut perm_claims = claims();
    perm_claims["permissions"] = json!(["reports:read"]);
    let (status, _, _) = get(
        &format!("{base}/reports"),
        Some(&format!("Bearer {}", ed().token(&perm_claims))),
    )
    .await;
    assert_eq!(status, 200);

    // Scopes: a scoped token must list the scope in `scope`, whatever its `permissions`
    // say; a token issued without scopes grants what its `permissions` list.
    for (scope, permissions, want) in [
        (Some("read_invoices edit"), json!(["read_invoices"]), 200),
        (Some("edit"), json!(["read_invoices"]), 403),
        (None, json!(["read_invoices"]), 200),
        (None, json!(["edit"]), 403),
    ] {
        let mut c = claims();
        c["permissions"] = permissions;
        if let Some(scope) = scope {
            c["scope"] = json!(scope);
        }
        let (status, headers, body) = get(
            &format!("{base}/invoices"),
            Some(&format!("Bearer {}", ed().token(&c))),
        )
        .await;
        assert_eq!(status, want, "{c}");
        if want == 403 {
            assert_eq!(
                headers["www-authenticate"],
                r#"Bearer error="insufficient_scope""#
            );
            assert_eq!(
                envelope(&body)["message"],
                "Missing required scope read_invoices."
            );
        }
    }

    // No verifier configured: 500 without internals.
    let (status, headers, body) = get(
        &format!("{base}/none/hello"),
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(status, 500);
    assert!(headers.get("www-authenticate").is_none());
    assert_eq!(
        envelope(&body),
        json!({"status": "error", "code": 500, "message": "Internal error."})
    );

    server.handle.stop(true).await;
}
