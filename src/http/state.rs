//! What every request handler shares: the loaded users and keys (swapped whole by SIGHUP),
//! the hashing pool, the throttle and the metrics.

use std::sync::{Arc, RwLock};

use super::client_address::ClientAddress;
use crate::config::LoginSettings;
use crate::database::Database;
use crate::login::dummy::DummyHashes;
use crate::login::hash_pool::HashPool;
use crate::login::password::StoredHash;
use crate::login::throttle::Throttle;
use crate::login::totp::SecondFactor;
use crate::login::users::health::StoreHealth;
use crate::login::users::UserStore;
use crate::metrics::Metrics;
use crate::session::revocations::Revocations;
use crate::session::Sessions;
use crate::token::issuer::Issuer;
use watchword_verify::Verifier;

/// What SIGHUP reloads: the users and the keys, swapped as one unit so that a request never
/// sees new users with old keys or the reverse.
pub struct Loaded {
    /// Accounts: the users file's, or the database store that is asked at every login.
    pub users: UserStore,
    /// Signs tokens with the active key.
    pub issuer: Issuer,
    /// Checks tokens for `/verify`, with exactly the keys this service publishes.
    pub verifier: Verifier,
    /// `/.well-known/jwks.json`, serialized once.
    pub jwks: String,
    /// `/.well-known/openid-configuration`, serialized once.
    pub discovery: String,
    /// The signing key was made at start (no `keys.signing_key_file`): a reload keeps it.
    pub ephemeral_key: bool,
    /// What unknown account names are checked against: one dummy per argon2 parameter set
    /// of these accounts.
    pub dummies: DummyHashes,
    /// The TOTP key and `[totp]` (reloaded with the keys).
    pub totp: SecondFactor,
}

/// Everything a request handler needs.
pub struct AppState {
    /// Users and keys; a request takes one snapshot and keeps it to the end, so a reload
    /// never changes the ground under an in-flight login.
    loaded: RwLock<Arc<Loaded>>,
    /// A hash of `password.*`, checked for an authentication code when no account has one
    /// (unknown account names have [`Loaded::dummies`]).
    pub dummy: Arc<StoredHash>,
    /// The argon2 threads.
    pub pool: HashPool,
    /// Failed-login counters.
    pub throttle: Throttle,
    /// `server.trusted_proxies` and `server.forwarded_header`.
    pub client_address: ClientAddress,
    /// `[login]`.
    pub login: LoginSettings,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// `password.*`: what a stored hash is rehashed to after a login when it is weaker.
    pub password_params: argon2::Params,
    /// The database of `[database]`, when a store uses it (opened at start, kept by SIGHUP).
    pub database: Option<Database>,
    /// Whether the database user store is known to be down (logins then fail fast).
    pub user_store: Arc<StoreHealth>,
    /// `[sessions]` when enabled: refresh tokens (opened at start; SIGHUP keeps them).
    pub sessions: Option<Arc<Sessions>>,
    /// The revocation list (with sessions): checked by `/verify`, published for verifiers.
    pub revocations: Option<Arc<Revocations>>,
}

impl AppState {
    /// Shared state around the first `loaded` users and keys.
    pub fn new(
        loaded: Loaded,
        dummy: Arc<StoredHash>,
        pool: HashPool,
        throttle: Throttle,
        client_address: ClientAddress,
        login: LoginSettings,
    ) -> AppState {
        let metrics = Metrics::new();
        let (store_errors, store_up) = throttle.store_metrics();
        metrics.register(Box::new(store_errors));
        metrics.register(Box::new(store_up));
        AppState {
            loaded: RwLock::new(Arc::new(loaded)),
            dummy,
            pool,
            throttle,
            client_address,
            login,
            password_params: argon2::Params::default(),
            database: None,
            user_store: Arc::new(StoreHealth::new(metrics.user_store_up.clone())),
            sessions: None,
            revocations: None,
            metrics,
        }
    }

    /// The current users and keys.
    pub fn loaded(&self) -> Arc<Loaded> {
        // A poisoned lock still holds a complete snapshot (replace is a single assignment).
        Arc::clone(&self.loaded.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Swap in newly loaded users and keys; requests already running keep their snapshot.
    pub fn replace(&self, new: Loaded) {
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
    }
}
