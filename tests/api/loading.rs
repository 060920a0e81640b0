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
