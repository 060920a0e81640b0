//! The HTTP contract: `GET /openapi.yaml` serves `openapi.yaml` from the repository, byte for
//! byte. Full validation (openapi-spec-validator) and the contract tests against the running
//! server (Schemathesis) are in `tests/interop/run.sh`.

use crate::helpers::spawn_app;

const FILE: &str = include_str!("../../openapi.yaml");

#[tokio::test]
async fn served_openapi_is_the_file_in_the_repository() {
    let app = spawn_app().await;
    let res = app.get("/openapi.yaml").await;
    assert_eq!(res.status(), 200);
    let ctype = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(
        ctype.split(';').next().unwrap().trim(),
        "application/yaml",
        "{ctype}"
    );
    let body = res.bytes().await.unwrap();
    assert!(
        body == FILE.as_bytes(),
        "GET /openapi.yaml differs from openapi.yaml"
    );
}

#[test]
fn openapi_file_is_openapi_3_1_and_names_every_endpoint() {
    assert!(
        FILE.lines()
            .next()
            .is_some_and(|l| l.starts_with("openapi: 3.1.")),
        "openapi.yaml must start with `openapi: 3.1.x`"
    );
    // Top-level keys of an OpenAPI document, each at column 0.
    for key in ["info:", "paths:", "components:"] {
        assert!(
            FILE.lines().any(|l| l == key),
            "openapi.yaml has no top-level `{key}`"
        );
    }
    // Every route of src/http/mod.rs is a path item (two spaces in, under `paths:`).
    for path in [
        "/login",
        "/token",
        "/refresh",
        "/logout",
        "/revoke",
        "/introspect",
        "/.well-known/revocations",
        "/verify",
        "/totp/enroll",
        "/totp/confirm",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.yaml",
    ] {
        assert!(
            FILE.lines().any(|l| l == format!("  {path}:")),
            "openapi.yaml does not describe {path}"
        );
    }
    // YAML forbids tabs for indentation; a tab would make the file unreadable to every client.
    assert!(!FILE.contains('\t'), "openapi.yaml contains a tab");
}

#[tokio::test]
async fn login_examples_in_the_contract_are_what_the_server_says() {
    // The answer-table messages quoted in openapi.yaml come from the server itself.
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!("{}/login", app.base))
        .header("Password", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body = res.text().await.unwrap();
    assert_eq!(
        body,
        r#"{"status":"error","code":402,"message":"Required field User-Name is not specified."}"#
    );
    assert!(FILE.contains("message: Required field User-Name is not specified. }"));
    let res = app
        .login(&crate::helpers::Method::Post, "user_test", "wrong")
        .await;
    assert_eq!(res.status(), 401);
    assert!(FILE.contains(&format!(
        "message: {} }}",
        res.json::<serde_json::Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
    )));
    // The other login styles' answers the contract names: two styles at once, and a body
    // that is not JSON.
    let res = app
        .client
        .post(format!("{}/login", app.base))
        .header("User-Name", "user_test")
        .header("Password", "password_test")
        .basic_auth("user_test", Some("password_test"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body = res.json::<serde_json::Value>().await.unwrap();
    assert!(FILE.contains(&format!(
        "code: 400, message: {} }}",
        body["message"].as_str().unwrap()
    )));
    let res = app
        .client
        .post(format!("{}/login", app.base))
        .header("Content-Type", "text/plain")
        .body("username=user_test")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let body = res.json::<serde_json::Value>().await.unwrap();
    assert!(FILE.contains(&format!(
        "code: 415, message: {} }}",
        body["message"].as_str().unwrap()
    )));
}

#[tokio::test]
async fn token_examples_in_the_contract_are_what_the_server_says() {
    let app = crate::helpers::spawn_app().await;
    for (body, example) in [
        (
            "grant_type=password&username=user_test&password=wrong",
            "{ error: invalid_grant, error_description: Invalid user name or password. }",
        ),
        (
            "grant_type=password&password=x",
            "{ error: invalid_request, error_description: The username parameter is missing. }",
        ),
        (
            "grant_type=password&username=a&password=x&password=y",
            "{ error: invalid_request, error_description: The password parameter is given more than once. }",
        ),
        (
            "grant_type=implicit",
            "{ error: unsupported_grant_type, error_description: The grant_type must be password or client_credentials. }",
        ),
        (
            "grant_type=client_credentials",
            "{ error: invalid_client, error_description: Client authentication failed. }",
        ),
    ] {
        let res = app
            .client
            .post(format!("{}/token", app.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let answer: serde_json::Value = res.json().await.unwrap();
        let shown = format!(
            "{{ error: {}, error_description: {} }}",
            answer["error"].as_str().unwrap(),
            answer["error_description"].as_str().unwrap()
        );
        assert_eq!(shown, example, "{body}");
        assert!(FILE.contains(example), "openapi.yaml lacks {example}");
    }
}

/// README shows the snippets that `tests/interop/run.sh` runs, verbatim.
#[test]
fn readme_shows_the_interop_snippets_verbatim() {
    let readme = include_str!("../../README.md");
    for (name, text) in [
        ("verify.py", include_str!("../interop/snippets/verify.py")),
        ("verify.mjs", include_str!("../interop/snippets/verify.mjs")),
        ("nginx.conf", include_str!("../interop/snippets/nginx.conf")),
        (
            "oauth_authlib.py",
            include_str!("../interop/snippets/oauth_authlib.py"),
        ),
        (
            "oauth_requests_oauthlib.py",
            include_str!("../interop/snippets/oauth_requests_oauthlib.py"),
        ),
        (
            "oauth_client.mjs",
            include_str!("../interop/snippets/oauth_client.mjs"),
        ),
    ] {
        assert!(
            readme.contains(text.trim_end()),
            "README.md does not show tests/interop/snippets/{name} as it is"
        );
    }
    assert!(readme.contains("AuthStyle:    oauth2.AuthStyleInHeader"));
}
