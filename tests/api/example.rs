//! `verify/examples/sibling_service.rs`, driven as a real process against a real login service.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::*;

// Multi-threaded: the test reads the child's stdout with blocking calls while the in-process
// login service must keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sibling_service_accepts_only_valid_tokens() {
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/sibling_service");
    assert!(
        example.exists(),
        "{} is missing: `cargo test --workspace --all-features` builds the verify crate's examples before running tests",
        example.display()
    );
    let app = spawn_with(Spec::self_issued()).await;
    let mut child = KillOnDrop(
        Command::new(&example)
            .env("WATCHWORD_URL", &app.base)
            .env("SIBLING_BIND", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let sibling = loop {
        let line = lines.next().expect("example printed its address").unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_owned();
        }
    };
    let client = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut req = client.get(format!("{sibling}{path}"));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        req.send()
    };

    let res = get("/hello", None).await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().contains_key("www-authenticate"));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["code"], 401);

    let admin = app.token("user_test", PASSWORD).await;
    let res = get("/hello", Some(&admin)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "hello user_test\n");
    assert_eq!(get("/admin", Some(&admin)).await.unwrap().status(), 200);

    let plain = app.token("spacey", SPACED).await;
    let res = get("/admin", Some(&plain)).await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["code"], 403);
    assert_eq!(
        get("/hello", Some(&format!("{plain}x")))
            .await
            .unwrap()
            .status(),
        401
    );

    let _ = child.kill();
    let _ = child.wait();
}
