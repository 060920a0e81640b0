//! Start the real application on port 0 with cheap argon2 parameters and talk HTTP to it.

use std::net::SocketAddr;
use std::path::PathBuf;

use reqwest::header::{HeaderMap, HeaderValue};
use watchword::config::Settings;
use watchword::startup::Application;

pub use crate::stores::*;

/// argon2 parameters cheap enough for tests; production keeps the OWASP defaults.
pub const CHEAP: (u32, u32, u32) = (64, 1, 1);

pub fn cheap_params() -> argon2::Params {
    argon2::Params::new(CHEAP.0, CHEAP.1, CHEAP.2, None).unwrap()
}

pub fn hash(password: &str) -> String {
    watchword::login::password::hash_password(password, &cheap_params()).unwrap()
}

/// Users every test server knows.
pub const PASSWORD: &str = "password_test";
pub const SPACED: &str = "pass word  with inner spaces";
/// "çafé-ünïcode" typed with precomposed characters (NFC).
pub const UNICODE_NFC: &str = "\u{e7}af\u{e9}-\u{fc}n\u{ef}code";
/// The same password typed with combining accents (NFD).
pub const UNICODE_NFD: &str = "c\u{327}afe\u{301}-u\u{308}ni\u{308}code";

pub fn users_toml() -> String {
    format!(
        r#"
[[users]]
name = "user_test"
password_hash = "{}"
roles = ["demo", "admin"]
claims = {{ dept = "ops", level = 3 }}

[[users]]
name = "disabled_user"
password_hash = "{}"
disabled = true

[[users]]
name = "spacey"
password_hash = "{}"

[[users]]
name = "ünicode"
password_hash = "{}"
"#,
        hash(PASSWORD),
        hash(PASSWORD),
        hash(SPACED),
        hash(UNICODE_NFD),
    )
}

/// How a test server differs from the defaults.
pub struct Spec {
    /// Extra TOML appended to the config file.
    pub config: String,
    /// Users file contents.
    pub users: String,
    /// Listen address; port 0 unless a test needs to know it up front.
    pub bind: String,
    /// Where the accounts are kept; with a database store, `users` is imported into a fresh
    /// database before the first request.
    pub store: Store,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            config: String::new(),
            users: users_toml(),
            bind: "127.0.0.1:0".into(),
            store: default_store(),
        }
    }
}

impl Spec {
    /// On a free port known in advance, with `token.issuer` set to the server's own URL, so
    /// the discovery document points at this server (what JWKS clients follow).
    pub fn self_issued() -> Spec {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Spec {
            bind: format!("127.0.0.1:{port}"),
            config: format!("[token]\nissuer = \"http://127.0.0.1:{port}\"\n"),
            ..Spec::default()
        }
    }
}

pub struct TestApp {
    #[allow(dead_code)]
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    /// Holds the config and users files for the app's lifetime.
    pub _dir: tempfile::TempDir,
    /// The running app's shared state, for counters.
    pub state: actix_web::web::Data<watchword::http::AppState>,
    /// `http://` + the `metrics.bind` listener's address, when configured.
    pub metrics_base: Option<String>,
    /// The database URL, with a database store.
    #[allow(dead_code)]
    pub database_url: Option<String>,
    /// The config file the server was started with.
    #[allow(dead_code)]
    pub config_path: PathBuf,
}

/// Write a config file for `spec` into `dir` (port 0, cheap hashing, `/metrics` on a port 0
/// listener of its own) and return its path.
pub fn write_config(dir: &std::path::Path, spec: &Spec) -> PathBuf {
    let users = dir.join("users.toml");
    std::fs::write(&users, &spec.users).unwrap();
    let (m, t, p) = CHEAP;
    let mut text = format!(
        "[server]\nbind = \"{}\"\nworkers = 1\n[users]\nfile = \"{}\"\n\
         [password]\nm_cost = {m}\nt_cost = {t}\np_cost = {p}\nworkers = 2\n\
         [metrics]\nbind = \"127.0.0.1:0\"\n",
        spec.bind,
        users.display()
    );
    text.push_str(&spec.config);
    let path = dir.join("watchword.toml");
    std::fs::write(&path, merge_sections(&text)).unwrap();
    path
}

/// TOML forbids a table or a key twice; let specs add or override keys in any section.
fn merge_sections(text: &str) -> String {
    let mut order: Vec<String> = vec![String::new()];
    let mut sections: std::collections::HashMap<String, Vec<(String, String)>> = Default::default();
    let mut current = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') && !l.starts_with("[[") {
            current = l.to_owned();
            if !order.contains(&current) {
                order.push(current.clone());
            }
            continue;
        }
        let key = l.split('=').next().unwrap_or("").trim().to_owned();
        let entries = sections.entry(current.clone()).or_default();
        match entries.iter_mut().find(|(k, _)| !k.is_empty() && *k == key) {
            Some(entry) => entry.1 = line.to_owned(),
            None => entries.push((key, line.to_owned())),
        }
    }
    let mut out = String::new();
    for s in order {
        if !s.is_empty() {
            out.push_str(&format!("\n{s}\n"));
        }
        for (_, line) in sections.remove(&s).unwrap_or_default() {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

pub async fn spawn_with(mut spec: Spec) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let database_url = match spec.store {
        Store::File => None,
        store => Some(fresh_database(store, dir.path()).await),
    };
    spec.config = format!(
        "{}{}{}",
        store_config(spec.store, database_url.as_deref()),
        default_throttle_config(spec.store),
        spec.config
    );
    let path = write_config(dir.path(), &spec);
    let settings = Settings::load(Some(&path)).expect("test config loads");
    let app = Application::build(&settings).expect("app builds");
    if spec.store != Store::File {
        import_users(&settings, &spec.users);
    }
    let addr = app.addr();
    let state = app.state();
    let metrics_base = app.metrics_addr().map(|a| format!("http://{a}"));
    tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        _dir: dir,
        state,
        metrics_base,
        database_url,
        config_path: path,
    }
}

/// Write the accounts of a users file into the database store of `settings` (migrated).
pub fn import_users(settings: &Settings, users_toml: &str) {
    let users = watchword::login::users::Users::parse(users_toml, "test users").unwrap();
    let db = watchword::database::Database::open(&settings.database).unwrap();
    watchword::login::users::database::UserDb::new(db)
        .import(&users, false)
        .unwrap();
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Spec::default()).await
}

pub enum Method {
    Get,
    Post,
}

pub const METHODS: [Method; 2] = [Method::Get, Method::Post];

impl TestApp {
    /// `/login` with the given raw headers.
    pub async fn login_with(&self, method: &Method, headers: HeaderMap) -> reqwest::Response {
        let url = format!("{}/login", self.base);
        let req = match method {
            Method::Get => self.client.get(url),
            Method::Post => self.client.post(url),
        };
        req.headers(headers).send().await.expect("request sent")
    }

    /// `/login` with User-Name and Password.
    pub async fn login(&self, method: &Method, user: &str, password: &str) -> reqwest::Response {
        self.login_with(method, creds(user, password)).await
    }

    /// Log in and return the token.
    pub async fn token(&self, user: &str, password: &str) -> String {
        let res = self.login(&Method::Post, user, password).await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// `GET /metrics` on the `metrics.bind` listener (every test server has one unless its
    /// spec sets `bind = ""` under `[metrics]`).
    pub async fn metrics(&self) -> reqwest::Response {
        let base = self.metrics_base.as_ref().expect("a metrics.bind listener");
        self.client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
    }
}

pub fn creds(user: &str, password: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "User-Name",
        HeaderValue::from_bytes(user.as_bytes()).unwrap(),
    );
    h.insert(
        "Password",
        HeaderValue::from_bytes(password.as_bytes()).unwrap(),
    );
    h
}

/// Status and body bytes, for byte-identical comparisons.
pub async fn status_body(res: reqwest::Response) -> (u16, String) {
    (res.status().as_u16(), res.text().await.unwrap())
}

/// A child process that is killed and reaped when dropped, also when a test panics, so a
/// failed test never leaves a server running after the suite.
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Both are no-ops for a child that was already waited for (std never signals a
        // reaped pid).
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Write a key or secret file as `watchword keygen` does: readable by its owner only.
pub fn write_key(path: &std::path::Path, contents: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(contents.as_bytes()).unwrap();
}

/// A raw HTTP/1.1 `/login` request with `User-Name` and `Password`, for socket-level tests.
pub fn raw_login(user: &str, password: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "POST /login HTTP/1.1\r\nHost: watchword\r\nUser-Name: {user}\r\nPassword: {password}\r\n\
         {extra_headers}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Connect to `addr` and send `request`; the connection is left open.
pub async fn send_raw(addr: SocketAddr, request: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    stream
}

/// True when the server has answered on `stream` (or closed it), without blocking.
pub async fn answered(stream: &mut tokio::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    tokio::time::timeout(std::time::Duration::from_millis(2), stream.peek(&mut byte))
        .await
        .is_ok()
}

/// Close `stream` with a TCP reset (SO_LINGER 0), as a client that gives up abruptly does:
/// the server's next read fails with ECONNRESET.
pub fn reset(stream: tokio::net::TcpStream) {
    // Deprecated because a non-zero linger blocks on drop; zero sends RST at once.
    #[allow(deprecated)]
    stream.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(stream);
}

/// Wait until `cond` holds, checking every 5 ms; panics with `what` after `within`.
pub async fn wait_until(what: &str, within: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
