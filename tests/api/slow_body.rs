//! Clients that announce a body and then send it slowly, or never: cut after
//! `login.body_timeout` with 408, so they cannot hold connections for ever.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::helpers::*;

/// `POST /login` announcing 4000 bytes of JSON and sending one.
const SILENT_BODY: &[u8] = b"POST /login HTTP/1.1\r\nHost: watchword\r\n\
    Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{";

/// Everything the server sends on `stream` until it closes it (at most `within`).
async fn read_to_close(stream: &mut tokio::net::TcpStream, within: Duration) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server kept the connection open for {within:?}: {:?}",
        String::from_utf8_lossy(&out)
    );
    String::from_utf8_lossy(&out).into_owned()
}

fn fast_deadline(extra: &str) -> Spec {
    Spec {
        config: format!("[login]\nbody_timeout = \"1s\"\n{extra}"),
        ..Spec::default()
    }
}

/// A body that never arrives gets 408 in the envelope after `login.body_timeout`, the
/// connection is closed, and neither the throttle nor the hashing pool saw the request.
#[tokio::test]
async fn a_silent_body_gets_408_and_the_connection_is_closed() {
    let app = spawn_with(fast_deadline("")).await;
    let started = std::time::Instant::now();
    let mut stream = send_raw(app.addr, SILENT_BODY).await;
    let answer = read_to_close(&mut stream, Duration::from_secs(60)).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "answered before the deadline: {answer}"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        answer.ends_with(
            r#"{"status":"error","code":408,"message":"Request body not received in time."}"#
        ),
        "{answer}"
    );
    assert_eq!(app.state.pool.submitted(), 0, "a hash for a silent body");
    assert!(
        app.state.throttle.is_empty(),
        "a throttle slot for a silent body"
    );

    // A body sent slowly, a byte at a time, is cut the same way once the deadline is over.
    let mut stream = send_raw(app.addr, SILENT_BODY).await;
    let trickle = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for _ in 0..3999 {
            if stream.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    });
    let answer = tokio::time::timeout(Duration::from_secs(60), trickle)
        .await
        .expect("a trickled body held its connection")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Sixty silent bodies with `server.max_connections = 50` on one worker: the fifty held
/// connections are cut after the body deadline, so `/healthz` (waiting behind them in the
/// backlog) is answered, and every silent client gets its 408. Before the deadline existed
/// the fifty were held for ever and `/healthz` never got a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_bodies_cannot_hold_every_connection() {
    let app = spawn_with(fast_deadline(
        "[server]\nworkers = 1\nmax_connections = 50\n",
    ))
    .await;
    let mut silent = Vec::new();
    for _ in 0..60 {
        silent.push(send_raw(app.addr, SILENT_BODY).await);
    }
    let health = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("/healthz answered while silent bodies were open");
    assert_eq!(health.status(), 200);
    for (i, mut stream) in silent.into_iter().enumerate() {
        let answer = read_to_close(&mut stream, Duration::from_secs(60)).await;
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "connection {i}: {answer}"
        );
    }
}

/// A `chunked` body that nobody reads, on any route, and a chunked `/login` body that stops:
/// each connection is closed after its answer. actix drained such a body after answering for
/// as long as the client kept the connection open, so one chunked request that never ends
/// held a connection for ever on `/healthz`, `/verify`, a 404 route, and (after its 408)
/// `/login`.
#[tokio::test]
async fn unread_chunked_bodies_do_not_hold_connections() {
    let app = spawn_with(fast_deadline("")).await;
    let cases: [(&str, &[u8]); 4] = [
        (
            "HTTP/1.1 405",
            b"POST /healthz HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        ),
        (
            "HTTP/1.1 401",
            b"GET /verify HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
        (
            "HTTP/1.1 404",
            b"POST /elsewhere HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
        (
            "HTTP/1.1 408",
            b"POST /login HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n",
        ),
    ];
    for (status, request) in cases {
        let mut stream = send_raw(app.addr, request).await;
        let answer = read_to_close(&mut stream, Duration::from_secs(60)).await;
        assert!(answer.starts_with(status), "{answer}");
    }
    // A chunked body that is read in full keeps the connection for the next request.
    let mut stream = send_raw(
        app.addr,
        b"POST /login HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n\
          GET /healthz HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n",
    )
    .await;
    let answer = read_to_close(&mut stream, Duration::from_secs(60)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("HTTP/1.1 200"), "{answer}");
}

/// `/token` reads a body too: the same deadline, answered in its own error shape.
#[tokio::test]
async fn a_silent_token_body_gets_408_too() {
    let app = spawn_with(fast_deadline("")).await;
    let mut stream = send_raw(
        app.addr,
        b"POST /token HTTP/1.1\r\nHost: w\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 400\r\n\r\ngrant_type=pass",
    )
    .await;
    let answer = read_to_close(&mut stream, Duration::from_secs(60)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.ends_with(
            r#"{"error":"invalid_request","error_description":"The body did not arrive in time."}"#
        ),
        "{answer}"
    );
    assert_eq!(app.state.pool.submitted(), 0);
}
