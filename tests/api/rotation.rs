//! Key rotation and live reload against the real process, driven by SIGHUP.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cli::Running;
use crate::helpers::*;

fn sighup(server: &Running) {
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
}

async fn kids(base: &str) -> Vec<String> {
    let set: serde_json::Value = reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Reload and wait until the published key set is `want`.
async fn reload_until(server: &Running, want: &[&str]) {
    sighup(server);
    for _ in 0..200 {
        let mut got = kids(&server.base).await;
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "key set never became {want:?}; log:\n{}",
        server.log.lock().unwrap()
    );
}

async fn verify(base: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/verify"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn login(base: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{base}/login"))
        .headers(creds("user_test", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Add the new key verify-only, make it active, retire the old one: tokens in flight keep
/// verifying at every step (checked continuously in the background), and the retired key's
/// tokens stop verifying at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_step_by_step_with_tokens_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, users_toml()).unwrap();
    let (old, new) = (dir.path().join("old.pem"), dir.path().join("new.pem"));
    write_key(
        &old,
        &watchword::token::signing_key::generate_pem("EdDSA".parse().unwrap()).unwrap(),
    );
    write_key(
        &new,
        &watchword::token::signing_key::generate_pem("ES256".parse().unwrap()).unwrap(),
    );
    let config = dir.path().join("watchword.toml");
    let write_config = |alg: &str, active: &std::path::Path, verify_only: &[&std::path::Path]| {
        let list: Vec<String> = verify_only
            .iter()
            .map(|p| format!("\"{}\"", p.display()))
            .collect();
        let text = format!(
            "[token]\nalgorithm = \"{alg}\"\n[keys]\nsigning_key_file = \"{}\"\nverify_only_files = [{}]\n\
             [users]\nfile = \"{}\"\n[throttle]\nenabled = false\n",
            active.display(),
            list.join(", "),
            users.display()
        );
        std::fs::write(&config, text).unwrap();
    };
    write_config("EdDSA", &old, &[]);
    let server = Running::start(&[("WATCHWORD_CONFIG", config.display().to_string())]);
    let base = server.base.clone();
    let old_token = login(&base).await;
    let old_kid = kid_of(&old_token);

    // Tokens in flight: verified in a loop for the whole rotation; none may fail.
    let live = Arc::new(Mutex::new(vec![old_token.clone()]));
    let stop = Arc::new(AtomicBool::new(false));
    let (checks, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let checker = {
        let (live, stop, checks, failures, base) = (
            live.clone(),
            stop.clone(),
            checks.clone(),
            failures.clone(),
            base.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let tokens = live.lock().unwrap().clone();
                for t in tokens {
                    checks.fetch_add(1, Ordering::Relaxed);
                    if verify(&base, &t).await != 200 {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };

    // 1. The new key is published, verify-only; tokens are still signed with the old one.
    write_config("EdDSA", &old, &[&new]);
    let new_kid = {
        sighup(&server);
        let mut found = None;
        for _ in 0..200 {
            let k = kids(&base).await;
            if k.len() == 2 {
                found = k.into_iter().find(|k| *k != old_kid);
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        found.expect("new key published")
    };
    let t1 = login(&base).await;
    assert_eq!(kid_of(&t1), old_kid, "a verify-only key never signs");
    live.lock().unwrap().push(t1);

    // 2. The new key becomes active; the old one stays verify-only.
    write_config("ES256", &new, &[&old]);
    reload_until(&server, &[&old_kid, &new_kid]).await;
    let mut t2 = login(&base).await;
    for _ in 0..40 {
        if kid_of(&t2) == new_kid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        t2 = login(&base).await;
    }
    assert_eq!(kid_of(&t2), new_kid);
    live.lock().unwrap().push(t2.clone());
    // Every live token is checked a few more times after the switch. The checker's pace
    // depends on the machine's load, so wait for a number of checks, not for a time.
    let target = checks.load(Ordering::Relaxed) + 3 * live.lock().unwrap().len();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while checks.load(Ordering::Relaxed) < target {
        assert!(
            std::time::Instant::now() < deadline,
            "the background checker made {} of {target} checks in 60 s",
            checks.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // 3. After the longest token lifetime, the old key is retired.
    stop.store(true, Ordering::Relaxed);
    checker.await.unwrap();
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "a live token failed to verify during rotation"
    );
    write_config("ES256", &new, &[]);
    reload_until(&server, &[&new_kid]).await;
    assert_eq!(
        verify(&base, &old_token).await,
        401,
        "retired key's tokens stop verifying"
    );
    assert_eq!(verify(&base, &t2).await, 200);
    server.stop();
}

/// SIGHUP reloads the users file; a broken new file keeps the old state, logs the error, and
/// the service stays ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_users_and_survives_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, users_toml()).unwrap();
    let server = Running::start(&[("WATCHWORD__USERS__FILE", users.display().to_string())]);
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let status = |user: &'static str, pw: &'static str| {
        let c = client.clone();
        let base = base.clone();
        async move {
            c.post(format!("{base}/login"))
                .headers(creds(user, pw))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("user_test", PASSWORD).await, 200);
    assert_eq!(status("newcomer", "fresh password").await, 401);

    // A new user appears after SIGHUP.
    let mut text = users_toml();
    text.push_str(&format!(
        "\n[[users]]\nname = \"newcomer\"\npassword_hash = \"{}\"\n",
        hash("fresh password")
    ));
    std::fs::write(&users, &text).unwrap();
    sighup(&server);
    let mut ok = false;
    for _ in 0..200 {
        if status("newcomer", "fresh password").await == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        ok,
        "newcomer never appeared:\n{}",
        server.log.lock().unwrap()
    );

    // A broken file: old state kept, error logged, still ready.
    std::fs::write(
        &users,
        "[[users]]\nname = \"broken\"\npassword_hash = \"not a hash\"\n",
    )
    .unwrap();
    sighup(&server);
    let mut logged = false;
    for _ in 0..200 {
        if server.log.lock().unwrap().contains("reload failed") {
            logged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(logged, "{}", server.log.lock().unwrap());
    assert_eq!(
        reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(status("newcomer", "fresh password").await, 200);
    assert_eq!(status("user_test", PASSWORD).await, 200);
    let log = server.stop();
    assert!(
        log.contains("\"broken\""),
        "the error names the user: {log}"
    );
}

/// With no `keys.signing_key_file` the service signs with an ephemeral key; a SIGHUP that
/// reloads the users file keeps that key, so a demo deployment's tokens stay valid. Before,
/// every reload made a new key and invalidated every token (hardening round 3, item 12).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_keeps_an_ephemeral_key() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, users_toml()).unwrap();
    let server = Running::start(&[("WATCHWORD__USERS__FILE", users.display().to_string())]);
    let base = server.base.clone();
    let before = kids(&base).await;
    assert_eq!(before.len(), 1);
    let token = login(&base).await;
    let mut text = users_toml();
    text.push_str(&format!(
        "\n[[users]]\nname = \"newcomer\"\npassword_hash = \"{}\"\n",
        hash("fresh password")
    ));
    std::fs::write(&users, &text).unwrap();
    sighup(&server);
    let client = reqwest::Client::new();
    let mut reloaded = false;
    for _ in 0..200 {
        let res = client
            .post(format!("{base}/login"))
            .headers(creds("newcomer", "fresh password"))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(reloaded, "{}", server.log.lock().unwrap());
    assert_eq!(kids(&base).await, before, "the published key changed");
    assert_eq!(
        verify(&base, &token).await,
        200,
        "a token from before the reload"
    );
    server.stop();
}
