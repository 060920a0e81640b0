//! `[sessions]` as the session room runs with it (checked by `config::sessions`).

use std::path::PathBuf;
use std::time::Duration;

/// `[sessions]`: refresh tokens, their rotation and their lifetimes.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `sessions.enabled`: issue refresh tokens and answer refreshes.
    pub enabled: bool,
    /// `sessions.idle_timeout`: a session unused this long is over.
    pub idle_timeout: Duration,
    /// `sessions.max_lifetime`: a session is over this long after its login.
    pub max_lifetime: Duration,
    /// `sessions.reuse_interval`: how long after a rotation the token one step behind still
    /// gets the current one (a lost response, two tabs), instead of revoking the session.
    pub reuse_interval: Duration,
    /// `sessions.refresh_key_file`: the HMAC secret that signs refresh tokens; `None` only
    /// while sessions are off.
    pub refresh_key_file: Option<PathBuf>,
    /// `sessions.refresh_verify_only_files`: earlier secrets, still accepted, never signing.
    pub refresh_verify_only_files: Vec<PathBuf>,
    /// `sessions.revocation_poll`: how stale the revocation list a verifier holds may be.
    pub revocation_poll: Duration,
}
