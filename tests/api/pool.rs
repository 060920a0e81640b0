//! The bounded hashing pool seen from outside: shedding with 503 when the queue is full, and
//! cheap endpoints answering while every hashing thread is busy.

use std::sync::Arc;

use crate::helpers::*;

/// One hashing thread, one queue place, and a hash that takes a noticeable while.
fn busy_spec() -> Spec {
    let params = argon2::Params::new(32 * 1024, 4, 1, None).unwrap();
    let hash = watchword::login::password::hash_password(PASSWORD, &params).unwrap();
    Spec {
        users: format!("[[users]]\nname = \"user_test\"\npassword_hash = \"{hash}\"\n"),
        config: "[server]\nworkers = 2\n[password]\nm_cost = 32768\nt_cost = 4\nworkers = 1\nqueue = 1\n\
                 [throttle]\nenabled = false\n"
            .into(),
        ..Spec::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_sheds_with_503_and_retry_after() {
    let app = Arc::new(spawn_with(busy_spec()).await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = Arc::clone(&app);
        tasks.push(tokio::spawn(async move {
            let res = app.login(&Method::Post, "user_test", PASSWORD).await;
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (res.status().as_u16(), retry, res.text().await.unwrap())
        }));
    }
    let mut shed = 0;
    let mut ok = 0;
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            503 => {
                shed += 1;
                assert_eq!(retry.as_deref(), Some("1"));
                assert_eq!(
                    body,
                    r#"{"status":"error","code":503,"message":"Service busy, try again."}"#
                );
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // One thread and one queue place: at most two of eight are in the pool at any moment.
    assert!(shed >= 1 && ok >= 1, "{ok} ok, {shed} shed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_keys_answer_while_every_hashing_thread_is_busy() {
    let app = Arc::new(spawn_with(busy_spec()).await);
    let before = app.state.pool.verifications();
    let slow = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            app.login(&Method::Post, "user_test", PASSWORD)
                .await
                .status()
        })
    };
    // Wait until the only hashing thread has the job: in flight, no longer queued.
    while app.state.pool.in_flight() == 0 || app.state.pool.queue_depth() > 0 {
        tokio::task::yield_now().await;
    }
    let mut answered = 0;
    for path in ["/healthz", "/.well-known/jwks.json", "/verify"] {
        let res = app.get(path).await;
        assert!(
            res.status() == 200 || (path == "/verify" && res.status() == 401),
            "{path}"
        );
        answered += 1;
    }
    assert_eq!(
        app.state.pool.verifications(),
        before,
        "the login was still hashing meanwhile"
    );
    assert_eq!(app.state.pool.in_flight(), 1);
    assert_eq!(answered, 3);
    assert_eq!(slow.await.unwrap(), 200);
}
