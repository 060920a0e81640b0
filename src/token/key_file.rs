//! Who may read a key or secret file: the service's user, and a group when there is one (the
//! Kubernetes Secret mount is `0440 root:65532`), never every user of the host. A signing key
//! that any local account can read lets any of them sign tokens, and an HS256 secret forge
//! them; so a file with any permission for others (`mode & 0o007`) stops the start, unless
//! `keys.allow_world_readable` turns that into a warning.

use std::path::Path;

use super::signing_key::SigningKeyError;

/// `Err` (or, with `allow`, a warning) when `path` grants other users any access. A file that
/// cannot be inspected is left to the read that follows, which names the error.
pub fn check_key_file(path: &Path, key: &'static str, allow: bool) -> Result<(), SigningKeyError> {
    let Some(mode) = others_access(path) else {
        return Ok(());
    };
    let error = SigningKeyError::ReadableByOthers {
        key,
        path: path.display().to_string(),
        mode,
    };
    if allow {
        log::warn!("{error} (keys.allow_world_readable = true: starting anyway)");
        Ok(())
    } else {
        Err(error)
    }
}

/// The permission bits of `path` when they give others any access (Unix); `None` otherwise.
#[cfg(unix)]
fn others_access(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o007 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn others_access(_path: &Path) -> Option<u32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn others_may_not_read_but_a_group_may() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "key").unwrap();
        for (mode, refused) in [
            (0o600, false),
            (0o400, false),
            (0o440, false),
            (0o640, false),
            (0o644, true),
            (0o604, true),
            (0o602, true),
            (0o601, true),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let checked = check_key_file(&path, "keys.signing_key_file", false);
            assert_eq!(checked.is_err(), refused, "{mode:o}");
            assert!(check_key_file(&path, "keys.signing_key_file", true).is_ok());
        }
        let err = check_key_file(&path, "keys.signing_key_file", false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("keys.signing_key_file: "), "{err}");
        assert!(err.contains("0601") && err.contains("chmod o-rwx"), "{err}");
        assert!(check_key_file(&dir.path().join("missing"), "k", false).is_ok());
    }
}
