//! `watchword users …` and `watchword migrate` as an operator runs them, against running
//! servers: every change counts at the next login, on every server sharing the database,
//! with no restart and no signal.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_watchword");

/// Run `watchword --config CONFIG ARGS…` with `stdin` piped in.
pub fn cli(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("WATCHWORD_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that exits before reading (a usage error) closes the pipe first: that is
    // its answer, not the test's failure.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{err}");
    err
}

/// A second server on the same database as `app` (its config file, its own port).
async fn second_server(app: &TestApp, store: Store) -> TestApp {
    spawn_on(app, store).await
}

async fn spawn_on(app: &TestApp, store: Store) -> TestApp {
    let url = app.database_url.clone().unwrap();
    // The second server's users are those already in the database: import nothing.
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        store: Store::File,
        users: String::new(),
        config: store_config(store, Some(&url)),
        ..Spec::default()
    };
    let path = write_config(dir.path(), &spec);
    let settings = watchword::config::Settings::load(Some(&path)).unwrap();
    let built = watchword::startup::Application::build(&settings).unwrap();
    let addr = built.addr();
    let state = built.state();
    tokio::spawn(built.run_until_stopped());
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        _dir: dir,
        state,
        metrics_base: None,
        database_url: Some(url),
        config_path: path,
    }
}

async fn status(app: &TestApp, user: &str, password: &str) -> u16 {
    app.login(&Method::Post, user, password)
        .await
        .status()
        .as_u16()
}

/// add, passwd, disable, enable, remove: each counts at the next login on both servers.
#[tokio::test]
async fn every_change_counts_at_the_next_login_on_every_server() {
    for store in database_stores() {
        let a = spawn_with(Spec {
            store,
            config: "[throttle]\nenabled = false\n".into(),
            ..Spec::default()
        })
        .await;
        let b = second_server(&a, store).await;
        let config = a.config_path.clone();
        let uniform = status_body(a.login(&Method::Post, "nobody", "x").await).await;
        for app in [&a, &b] {
            assert_eq!(status(app, "alice", "first").await, 401, "{store:?}");
        }

        ok(&cli(
            &config,
            &[
                "users", "add", "alice", "--role", "ops", "--claim", "level=3",
            ],
            "first\n",
        ));
        for app in [&a, &b] {
            assert_eq!(status(app, "alice", "first").await, 200, "{store:?}: add");
        }
        let err = failed(&cli(&config, &["users", "add", "alice"], "again\n"), 1);
        assert!(err.contains("\"alice\"") && err.contains("exists"), "{err}");

        ok(&cli(&config, &["users", "passwd", "alice"], "second\n"));
        for app in [&a, &b] {
            assert_eq!(
                status(app, "alice", "first").await,
                401,
                "{store:?}: old password"
            );
            assert_eq!(
                status(app, "alice", "second").await,
                200,
                "{store:?}: new password"
            );
        }

        ok(&cli(&config, &["users", "disable", "alice"], ""));
        for app in [&a, &b] {
            let res = status_body(app.login(&Method::Post, "alice", "second").await).await;
            assert_eq!(res, uniform, "{store:?}: disabled is the uniform 401");
        }
        ok(&cli(&config, &["users", "enable", "alice"], ""));
        for app in [&a, &b] {
            assert_eq!(
                status(app, "alice", "second").await,
                200,
                "{store:?}: enabled"
            );
        }

        ok(&cli(
            &config,
            &[
                "users", "update", "alice", "--role", "admin", "--role", "audit",
            ],
            "",
        ));
        let token = b.token("alice", "second").await;
        let checked = b
            .client
            .get(format!("{}/verify", b.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            checked.headers()["X-Auth-Roles"],
            "admin,audit",
            "{store:?}"
        );

        let list = ok(&cli(&config, &["users", "list", "--json"], ""));
        let list: serde_json::Value = serde_json::from_str(&list).unwrap();
        let alice = list
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == "alice")
            .unwrap();
        assert_eq!(alice["roles"], serde_json::json!(["admin", "audit"]));
        assert_eq!(alice["kind"], "user");
        assert_eq!(alice["disabled"], false);
        assert!(!list.to_string().contains("argon2"), "never a hash: {list}");

        ok(&cli(&config, &["users", "remove", "alice"], ""));
        for app in [&a, &b] {
            let res = status_body(app.login(&Method::Post, "alice", "second").await).await;
            assert_eq!(res, uniform, "{store:?}: removed is an unknown account");
        }
        for command in ["passwd", "disable", "enable", "remove", "update"] {
            let err = failed(&cli(&config, &["users", command, "alice"], "pw\n"), 1);
            assert!(err.contains("\"alice\" does not exist"), "{command}: {err}");
        }

        // Service accounts: the same commands with --service.
        ok(&cli(
            &config,
            &["users", "add", "--service", "nightly", "--role", "batch"],
            "code-1\n",
        ));
        let service = |code: &'static str| {
            b.client
                .post(format!("{}/login", b.base))
                .header("Identifier", "nightly")
                .header("Pass-Code", code)
                .send()
        };
        assert_eq!(service("code-1").await.unwrap().status(), 200, "{store:?}");
        ok(&cli(
            &config,
            &["users", "passwd", "--service", "nightly"],
            "code-2\n",
        ));
        assert_eq!(service("code-1").await.unwrap().status(), 401);
        assert_eq!(service("code-2").await.unwrap().status(), 200);
        let list = ok(&cli(&config, &["users", "--service", "list"], ""));
        assert!(
            list.contains("nightly") && list.contains("service"),
            "{list}"
        );
        assert!(
            !list.contains("user_test"),
            "--service lists service accounts: {list}"
        );
    }
}

/// `users import config/users.toml`, then the demo login works; a second import without
/// `--replace` fails and changes nothing; with it, it replaces.
#[tokio::test]
async fn import_of_the_demo_users_file() {
    for store in database_stores() {
        let app = spawn_with(Spec {
            store,
            users: String::new(),
            ..Spec::default()
        })
        .await;
        let config = app.config_path.clone();
        let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/config/users.toml");
        assert_eq!(status(&app, "user_test", "password_test").await, 401);
        let err = ok(&cli(&config, &["users", "import", demo], ""));
        let _ = err;
        assert_eq!(
            status(&app, "user_test", "password_test").await,
            200,
            "{store:?}"
        );

        // A file with a new account and the existing one: nothing of it is written.
        let mixed = app._dir.path().join("mixed.toml");
        std::fs::write(
            &mixed,
            format!(
                "[[users]]\nname = \"newcomer\"\npassword_hash = \"{}\"\n{}",
                hash("pw"),
                std::fs::read_to_string(demo).unwrap()
            ),
        )
        .unwrap();
        let err = failed(
            &cli(&config, &["users", "import", mixed.to_str().unwrap()], ""),
            1,
        );
        assert!(err.contains("\"user_test\" exists already"), "{err}");
        assert_eq!(
            status(&app, "newcomer", "pw").await,
            401,
            "{store:?}: nothing imported"
        );
        assert_eq!(status(&app, "user_test", "password_test").await, 200);

        // Authentication codes have no column in the database yet: refused, not dropped.
        let coded = app._dir.path().join("coded.toml");
        std::fs::write(
            &coded,
            format!(
                "[[service_accounts]]\nidentifier = \"api-client\"\npass_code_hash = \"{}\"\n\
                 authentication_code_hash = \"{}\"\n",
                hash("pc"),
                hash("code")
            ),
        )
        .unwrap();
        let err = failed(
            &cli(&config, &["users", "import", coded.to_str().unwrap()], ""),
            1,
        );
        assert!(
            err.contains("service account \"api-client\" has an authentication_code_hash"),
            "{err}"
        );

        ok(&cli(
            &config,
            &["users", "import", "--replace", mixed.to_str().unwrap()],
            "",
        ));
        assert_eq!(
            status(&app, "newcomer", "pw").await,
            200,
            "{store:?}: --replace"
        );
    }
}

/// Usage errors exit 2: a writing command on the file store, a reserved claim, a bad id, a
/// name that could never log in; `users check` works on both stores.
#[tokio::test]
async fn usage_errors_exit_2_and_check_works_on_both_stores() {
    let weak = argon2::Params::new(8192, 1, 1, None).unwrap();
    let weak_hash = watchword::login::password::hash_password("pw", &weak).unwrap();
    let users = format!(
        "[[users]]\nname = \"old-hash\"\npassword_hash = \"{weak_hash}\"\n\
         [[users]]\nname = \"fresh\"\npassword_hash = \"{}\"\n",
        watchword::login::password::hash_password(
            "pw",
            &argon2::Params::new(8192, 2, 1, None).unwrap()
        )
        .unwrap()
    );
    for store in all_stores() {
        let app = spawn_with(Spec {
            store,
            users: users.clone(),
            config: "[password]\nm_cost = 8192\nt_cost = 2\np_cost = 1\n".into(),
            ..Spec::default()
        })
        .await;
        let config = app.config_path.clone();
        let check = cli(&config, &["users", "check"], "");
        let out = ok(&check);
        assert!(
            out.contains("old-hash") && out.contains("m=8192 t=1"),
            "{store:?}: {out}"
        );
        assert!(!out.contains("fresh"), "{store:?}: {out}");
        let list = ok(&cli(&config, &["users", "list"], ""));
        assert!(
            list.contains("old-hash") && list.contains("fresh"),
            "{list}"
        );
        if store == Store::File {
            for args in [
                &["users", "add", "x"][..],
                &["users", "passwd", "fresh"],
                &["users", "disable", "fresh"],
                &["users", "import", "/dev/null"],
            ] {
                let err = failed(&cli(&config, args, "pw\n"), 2);
                assert!(err.contains("edit the users file"), "{args:?}: {err}");
            }
            continue;
        }
        for (args, needle) in [
            (
                &["users", "add", "x", "--claim", "sub=\"root\""][..],
                "reserved",
            ),
            (&["users", "add", "x", "--claim", "dept=ops"], "not JSON"),
            (&["users", "add", "x", "--id", "not-a-uuid"], "UUID"),
            (&["users", "add", " padded"], "whitespace"),
            (
                &["users", "add", "--service", "s", "--unit", "u"],
                "service accounts",
            ),
            (&["users", "frobnicate"], "unrecognized"),
            (&["users", "add"], "required"),
        ] {
            let err = failed(&cli(&config, args, "pw\n"), 2);
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        let err = failed(&cli(&config, &["users", "add", "empty-password"], ""), 1);
        assert!(err.contains("password is empty"), "{err}");
    }
}

/// `users add` and `users import` refuse look-alikes of accounts in the database (names that
/// differ only by case), the whole import at once; a name typed in NFD is the NFC account
/// (hardening round 3, item 14).
#[tokio::test]
async fn add_and_import_refuse_look_alike_names() {
    for store in database_stores() {
        let app = spawn_with(Spec {
            store,
            ..Spec::default()
        })
        .await;
        let config = app.config_path.clone();
        let err = failed(&cli(&config, &["users", "add", "USER_test"], "pw-1\n"), 1);
        assert!(
            err.contains("differ only by letter case"),
            "{store:?}: {err}"
        );
        assert_eq!(
            status(&app, "USER_test", "pw-1").await,
            401,
            "nothing was added"
        );

        let file = app._dir.path().join("look-alikes.toml");
        std::fs::write(
            &file,
            format!(
                "[[users]]\nname = \"newcomer\"\npassword_hash = \"{}\"\n\
                 [[users]]\nname = \"Spacey\"\npassword_hash = \"{}\"\n",
                hash("pw"),
                hash("pw")
            ),
        )
        .unwrap();
        let err = failed(
            &cli(&config, &["users", "import", file.to_str().unwrap()], ""),
            1,
        );
        assert!(err.contains("nothing was imported"), "{store:?}: {err}");
        assert_eq!(
            status(&app, "newcomer", "pw").await,
            401,
            "{store:?}: not imported"
        );

        // The NFD spelling of an account is that account: passwd changes "ünicode".
        ok(&cli(
            &config,
            &["users", "passwd", "u\u{308}nicode"],
            "new-unicode-pw\n",
        ));
        assert_eq!(
            status(&app, "ünicode", "new-unicode-pw").await,
            200,
            "{store:?}"
        );
    }
}
