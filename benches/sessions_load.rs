//! Sessions under load, over HTTP against the real server (release build, in-process, the
//! load generator sharing the machine): logins per second against refreshes per second at
//! saturation, with the users and sessions in SQLite and, when given, PostgreSQL; and `/verify`
//! per second with the revocation check (sessions on) against without (sessions off).
//! argon2 at the production defaults. Prints `key=value` lines.
//!
//! `cargo bench --bench sessions_load -- [--postgres URL] [--seconds N] [--clients N]`
//! (URL: a database this run may fill, e.g. a fresh one on tests/support/postgres.sh's
//! server). BENCHMARKS.md ("Sessions") has the figures and the command that made them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchword::config::Settings;
use watchword::startup::Application;

const USER: &str = "bench_user";
const PASSWORD: &str = "bench-password-1";

struct Args {
    postgres: Option<String>,
    seconds: u64,
    clients: usize,
}

fn args() -> Args {
    let mut out = Args {
        postgres: None,
        seconds: 5,
        clients: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--postgres" => out.postgres = it.next(),
            "--seconds" => out.seconds = it.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            "--clients" => out.clients = it.next().and_then(|v| v.parse().ok()).unwrap_or(16),
            _ => {} // cargo bench passes --bench
        }
    }
    out
}

/// A server on `url` (users and sessions in that database), sessions on or off.
fn server(dir: &std::path::Path, url: &str, sessions: bool, tag: &str) -> Application {
    let key = dir.join(format!("{tag}.refresh.key"));
    let secret =
        watchword::token::signing_key::generate_pem(watchword::config::SigningAlgorithm::HS256)
            .unwrap();
    std::fs::write(&key, secret).unwrap();
    let mut perms = std::fs::metadata(&key).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&key, perms).unwrap();
    let config = dir.join(format!("{tag}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 2\n[users]\nstore = \"database\"\n\
             [database]\nurl = \"{url}\"\npool_size = 8\n\
             [sessions]\nenabled = {sessions}\nrefresh_key_file = \"{}\"\n",
            key.display()
        ),
    )
    .unwrap();
    let settings = Settings::load(Some(&config)).unwrap();
    let app = Application::build(&settings).unwrap();
    let hash =
        watchword::login::password::hash_password(PASSWORD, &settings.password.params).unwrap();
    // One account per client: the throttle counts logins in flight per name and address,
    // so sixteen clients on one name would be refused (as sixteen guessers would).
    let text: String = (0..64)
        .map(|i| {
            format!(
                "[[users]]\nname = \"{USER}_{i}\"\npassword_hash = \"{hash}\"\nroles = [\"a\"]\n"
            )
        })
        .collect();
    let users = watchword::login::users::Users::parse(&text, "bench users").unwrap();
    let db = watchword::database::Database::open(&settings.database).unwrap();
    watchword::login::users::database::UserDb::new(db)
        .import(&users, true)
        .expect("the bench user is imported");
    app
}

/// `clients` loops of `step` for `seconds`; successful steps per second.
async fn saturate<F, Fut>(clients: usize, seconds: u64, step: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let step = Arc::new(step);
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (step, done, failed) = (Arc::clone(&step), Arc::clone(&done), Arc::clone(&failed));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                if step(i).await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let failed = failed.load(Ordering::Relaxed);
    assert_eq!(failed, 0, "{failed} requests failed");
    done.load(Ordering::Relaxed) as f64 / seconds as f64
}

async fn login(client: &reqwest::Client, base: &str, i: usize) -> Option<(String, String)> {
    let res = client
        .post(format!("{base}/login"))
        .header("User-Name", format!("{USER}_{i}"))
        .header("Password", PASSWORD)
        .send()
        .await
        .ok()?;
    static SAID: std::sync::Once = std::sync::Once::new();
    if res.status() != 200 {
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        SAID.call_once(|| eprintln!("login: {status} {body}"));
        return None;
    }
    let v: serde_json::Value = res.json().await.ok()?;
    Some((
        v["token"].as_str()?.to_owned(),
        v["refresh_token"].as_str().unwrap_or_default().to_owned(),
    ))
}

async fn run_store(name: &str, url: &str, dir: &std::path::Path, a: &Args) {
    let app = server(dir, url, true, name);
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let c = client.clone();
    let b = base.clone();
    let logins = saturate(a.clients, a.seconds, move |i| {
        let (c, b) = (c.clone(), b.clone());
        async move { login(&c, &b, i).await.is_some() }
    })
    .await;
    // One session per client, each refreshed in turn with the token it last got.
    let mut chains = Vec::new();
    for i in 0..a.clients {
        chains.push(tokio::sync::Mutex::new(
            login(&client, &base, i).await.unwrap().1,
        ));
    }
    let chains = Arc::new(chains);
    let (c, b) = (client.clone(), base.clone());
    let refreshes = saturate(a.clients, a.seconds, move |i| {
        let (c, b, chains) = (c.clone(), b.clone(), Arc::clone(&chains));
        async move {
            let mut token = chains[i].lock().await;
            let Ok(res) = c
                .post(format!("{b}/refresh"))
                .header("Refresh-Token", token.as_str())
                .send()
                .await
            else {
                return false;
            };
            let Ok(v) = res.json::<serde_json::Value>().await else {
                return false;
            };
            match v["refresh_token"].as_str() {
                Some(next) => {
                    *token = next.to_owned();
                    true
                }
                None => false,
            }
        }
    })
    .await;
    println!("{name}_logins_per_s={logins:.1}");
    println!("{name}_refreshes_per_s={refreshes:.1}");
    println!("{name}_ratio={:.1}", refreshes / logins);
}

async fn verify_rate(client: &reqwest::Client, base: &str, a: &Args) -> f64 {
    let token = login(client, base, 0).await.unwrap().0;
    let (c, b) = (client.clone(), base.to_owned());
    saturate(a.clients, a.seconds, move |_| {
        let (c, b, t) = (c.clone(), b.clone(), token.clone());
        async move {
            c.get(format!("{b}/verify"))
                .header("Authorization", format!("Bearer {t}"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        }
    })
    .await
}

#[tokio::main]
async fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    run_store("sqlite", &sqlite, dir.path(), &a).await;
    if let Some(pg) = a.postgres.clone() {
        run_store("postgres", &pg, dir.path(), &a).await;
    }
    // /verify: the same database and keys setup, sessions off (no revocation check) and on.
    let client = reqwest::Client::new();
    let mut rates = Vec::new();
    for sessions in [false, true] {
        let url = format!(
            "sqlite://{}",
            dir.path().join(format!("verify-{sessions}.db")).display()
        );
        let app = server(dir.path(), &url, sessions, &format!("verify-{sessions}"));
        let base = format!("http://{}", app.addr());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        rates.push(verify_rate(&client, &base, &a).await);
        handle.stop(true).await;
    }
    println!("verify_without_revocation_per_s={:.0}", rates[0]);
    println!("verify_with_revocation_per_s={:.0}", rates[1]);
    println!("verify_ratio={:.3}", rates[1] / rates[0]);
}
