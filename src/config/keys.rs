//! `[keys]`: where the signing key (and the keys only verified, for rotation) come from.

use std::path::PathBuf;

use serde::Deserialize;

use super::checks::non_empty_path;

/// `[keys]`: where the signing key comes from.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// `keys.signing_key_file`; `None` means an ephemeral key.
    pub signing_key_file: Option<PathBuf>,
    /// `keys.verify_only_files`: published and accepted, never used to sign (rotation).
    pub verify_only_files: Vec<PathBuf>,
    /// `keys.allow_world_readable`: start (with a warning) even when a key file grants other
    /// users any access; refused otherwise.
    pub allow_world_readable: bool,
    /// `keys.totp_key_file`: the key sealing TOTP secrets; `None`: TOTP is off.
    pub totp_key_file: Option<PathBuf>,
    /// `keys.totp_old_key_files`: TOTP keys that only open what they sealed (rotation).
    pub totp_old_key_files: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeys {
    signing_key_file: String,
    verify_only_files: Vec<String>,
    allow_world_readable: bool,
    totp_key_file: String,
    totp_old_key_files: Vec<String>,
}

impl RawKeys {
    /// Nothing here can be wrong yet: whether the files hold usable keys is checked when they
    /// are loaded.
    pub(super) fn validate(self) -> KeySettings {
        KeySettings {
            signing_key_file: non_empty_path(&self.signing_key_file),
            verify_only_files: self
                .verify_only_files
                .iter()
                .filter_map(|f| non_empty_path(f))
                .collect(),
            allow_world_readable: self.allow_world_readable,
            totp_key_file: non_empty_path(&self.totp_key_file),
            totp_old_key_files: self
                .totp_old_key_files
                .iter()
                .filter_map(|f| non_empty_path(f))
                .collect(),
        }
    }
}
