//! What the real loader refuses before the port is bound: dangerous users files, weak HS256
//! secrets, key files readable by anyone. Each error names the key or entry and the fix.

use watchword::config::Settings;
use watchword::startup::Application;

use crate::helpers::*;

/// The start error for `spec` (config and users file written as for a test server), or
/// `None` when the service would start.
pub fn start_error(spec: &Spec) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), spec);
    let settings = match Settings::load(Some(&path)) {
        Ok(s) => s,
        Err(e) => return Some(watchword::error_chain::error_chain(&e)),
    };
    match Application::build(&settings) {
        Ok(_) => None,
        Err(e) => Some(watchword::error_chain::error_chain(&e)),
    }
}

/// Extra claims whose names equal a reserved claim ignoring ASCII case and surrounding
/// whitespace are refused: Go's encoding/json matches keys case-insensitively and the later
/// key wins, so `Sub = "admin"` would be a golang-jwt verifier's `sub`. Before, only exact
/// names were refused and these loaded.
#[test]
fn reserved_claim_names_are_refused_whatever_their_case_and_spacing() {
    for claims in [
        r#"{ Sub = "admin" }"#,
        r#"{ EXP = 99999999999 }"#,
        r#"{ Roles = ["admin"] }"#,
        r#"{ " iss " = "https://evil.example" }"#,
        r#"{ "Permissions" = ["all"] }"#,
        r#"{ "ſub" = "admin" }"#,
    ] {
        let users = format!(
            "[[users]]\nname = \"mallory\"\npassword_hash = \"{}\"\nclaims = {claims}\n",
            hash(PASSWORD)
        );
        let err = start_error(&Spec {
            users,
            ..Spec::default()
        })
        .unwrap_or_else(|| panic!("claims = {claims} loaded"));
        assert!(
            err.contains("user \"mallory\"") && err.contains("is reserved"),
            "{claims}: {err}"
        );
    }
    // Other names, even close ones, still load.
    let users = format!(
        "[[users]]\nname = \"alice\"\npassword_hash = \"{}\"\nclaims = {{ subject = \"x\", Dept = \"ops\" }}\n",
        hash(PASSWORD)
    );
    assert_eq!(
        start_error(&Spec {
            users,
            ..Spec::default()
        }),
        None
    );
}

/// An HS256 secret that is long enough but guessable stops the start, naming the key and
/// the command that makes a good one: the jwt_tool wordlist line from the issue, jwt.io's
/// and Supabase's sample secrets, a repeated word, one byte 32 times. Before, only the length
/// was checked and all of these started silently; `watchword keygen --alg HS256` output is
/// accepted.
#[test]
fn guessable_hs256_secrets_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    let spec = |path: &std::path::Path| Spec {
        config: format!(
            "[token]\nalgorithm = \"HS256\"\n[keys]\nsigning_key_file = \"{}\"\n",
            path.display()
        ),
        ..Spec::default()
    };
    for weak in [
        "12345678901234567890123456789012",
        "a-string-secret-at-least-256-bits-long",
        "super-secret-jwt-token-with-at-least-32-characters-long",
        "secretsecretsecretsecretsecretsecret",
        "77777777777777777777777777777777",
    ] {
        write_key(&secret, &format!("{weak}\n"));
        let err = start_error(&spec(&secret)).unwrap_or_else(|| panic!("{weak:?} was accepted"));
        assert!(err.starts_with("keys.signing_key_file: "), "{weak}: {err}");
        assert!(
            err.contains("watchword keygen --alg HS256"),
            "{weak}: {err}"
        );
        assert!(!err.contains(weak), "the secret is in the message: {err}");
    }
    let generated = dir.path().join("generated");
    watchword::token::signing_key::write_new_key(&generated, "HS256".parse().unwrap()).unwrap();
    assert_eq!(start_error(&spec(&generated)), None);
}

/// A signing key (or verify-only key) that other users of the host may read stops the start,
/// naming the key, the mode and the fix; 0600 and 0440 (a group, as the Kubernetes Secret is
/// mounted) start; `keys.allow_world_readable = true` starts with the file as it is. Before,
/// a 0644 key loaded without a word.
#[test]
fn key_files_open_to_other_users_stop_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let old = dir.path().join("old.pem");
    write_key(
        &key,
        &watchword::token::signing_key::generate_pem("EdDSA".parse().unwrap()).unwrap(),
    );
    write_key(
        &old,
        &watchword::token::signing_key::generate_pem("ES256".parse().unwrap()).unwrap(),
    );
    let chmod = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let spec = |extra: &str| Spec {
        config: format!(
            "[keys]\nsigning_key_file = \"{}\"\nverify_only_files = [\"{}\"]\n{extra}",
            key.display(),
            old.display()
        ),
        ..Spec::default()
    };
    for mode in [0o600, 0o400, 0o440, 0o640] {
        chmod(&key, mode);
        assert_eq!(start_error(&spec("")), None, "{mode:o}");
    }
    for mode in [0o644, 0o604, 0o666] {
        chmod(&key, mode);
        let err = start_error(&spec("")).unwrap_or_else(|| panic!("{mode:o} started"));
        assert!(err.starts_with("keys.signing_key_file: "), "{err}");
        assert!(err.contains(&format!("{mode:04o}")), "{err}");
        assert!(err.contains("chmod o-rwx"), "{err}");
        assert!(err.contains("keys.allow_world_readable"), "{err}");
        assert_eq!(
            start_error(&spec("allow_world_readable = true\n")),
            None,
            "{mode:o} with the override"
        );
    }
    chmod(&key, 0o600);
    chmod(&old, 0o644);
    let err = start_error(&spec("")).expect("a verify-only key open to others started");
    assert!(err.starts_with("keys.verify_only_files: "), "{err}");
}

/// Accounts a person could not tell apart are refused at load (hardening round 3, item 14):
/// names that differ only by case (unless `users.allow_case_variants = true`), names that
/// differ only by Unicode normalisation (the same name in NFC), and two accounts with one id.
#[test]
fn look_alike_accounts_are_refused() {
    let h = hash(PASSWORD);
    let users = |a: &str, b: &str, extra: &str| {
        format!(
            "[[users]]\nname = \"{a}\"\npassword_hash = \"{h}\"\n{extra}\n\
             [[users]]\nname = \"{b}\"\npassword_hash = \"{h}\"\n{extra}\n"
        )
    };
    let err = start_error(&Spec {
        users: users("Alice", "alice", ""),
        ..Spec::default()
    })
    .expect("case variants refused");
    assert!(
        err.contains("\"Alice\" and \"alice\" differ only by letter case"),
        "{err}"
    );
    assert!(err.contains("users.allow_case_variants"), "{err}");
    assert_eq!(
        start_error(&Spec {
            users: users("Alice", "alice", ""),
            config: "[users]\nallow_case_variants = true\n".into(),
            ..Spec::default()
        }),
        None
    );
    let err = start_error(&Spec {
        users: users("caf\u{e9}", "cafe\u{301}", ""),
        ..Spec::default()
    })
    .expect("the same name in NFC and NFD refused");
    assert!(err.contains("appears more than once"), "{err}");
    let err = start_error(&Spec {
        users: users(
            "bob",
            "carol",
            "id = \"6f1c1d8e-6a43-4c1b-9a7e-2b1a4e0c9d11\"",
        ),
        ..Spec::default()
    })
    .expect("a repeated id refused");
    assert!(err.contains("have the same id"), "{err}");
}
