//! Prometheus metrics: what an operator needs to see attacks, overload and key problems.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The service's metrics, registered in a registry of its own (no global state, so tests can
/// run several services in one process).
pub struct Metrics {
    registry: Registry,
    /// `watchword_logins_total{outcome}`: ok, bad_credentials, throttled, shed, bad_request,
    /// body_timeout, internal_error, abandoned (the client left before the answer; counted as
    /// a failure unless the secret was right); attempts on `/login` and `/token` alike.
    pub logins: IntCounterVec,
    /// `watchword_login_duration_seconds`: answer time of `/login` and `/token`, every outcome.
    pub login_seconds: Histogram,
    /// `watchword_verifications_total{outcome}`: ok or the `VerifyError` reason, for `/verify`.
    pub verifications: IntCounterVec,
    /// `watchword_argon2_queue_depth`: logins waiting for a hashing thread.
    pub queue_depth: IntGauge,
    /// `watchword_argon2_in_flight`: logins queued or being hashed.
    pub in_flight: IntGauge,
    /// `watchword_keys`: keys `/verify` accepts.
    pub keys: IntGauge,
    /// `watchword_user_store_up`: 1 while the user store answers, 0 after a lookup found the
    /// database unreachable (until one succeeds again). Always 1 with the users file.
    pub user_store_up: IntGauge,
    /// `watchword_password_hashes_outdated`: accounts of the users file whose hash is weaker
    /// than `password.*` (the database store rehashes them at login instead).
    pub password_hashes_outdated: IntGauge,
    /// `watchword_password_rehashes_total{outcome}`: stored, changed (the account changed
    /// meanwhile: kept as it is), failed, skipped (hashing queue full).
    pub rehashes: IntCounterVec,
    /// `watchword_totp_total{result}`: one-time passwords judged after a right password
    /// (accepted, recovery_code, replayed, wrong, missing, enrolment_required) and
    /// enrolments (enrolled, enrolment_refused).
    pub totp: IntCounterVec,
    /// `watchword_refresh_total{result}`: refreshes by result (rotated, grace, invalid,
    /// revoked, expired, reuse_detected, account_changed, bad_client).
    pub refreshes: IntCounterVec,
    /// `watchword_revocations_total{kind}`: sessions and access tokens revoked by this
    /// process (`session`, `token`, `subject`).
    pub revocations: IntCounterVec,
}

impl Metrics {
    /// Create and register every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let logins = IntCounterVec::new(
            Opts::new(
                "watchword_logins_total",
                "Login attempts on /login and /token by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        // Buckets around the argon2 cost: a login is ~20 ms of hashing plus queueing.
        let login_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "watchword_login_duration_seconds",
                "Time to answer /login and /token.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5,
            ]),
        )
        .expect("valid metric");
        let verifications = IntCounterVec::new(
            Opts::new(
                "watchword_verifications_total",
                "Token checks on /verify by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let queue_depth = IntGauge::new(
            "watchword_argon2_queue_depth",
            "Logins waiting for a hashing thread.",
        )
        .expect("valid metric");
        let in_flight = IntGauge::new(
            "watchword_argon2_in_flight",
            "Logins queued or being hashed.",
        )
        .expect("valid metric");
        let keys = IntGauge::new("watchword_keys", "Keys /verify accepts.").expect("valid metric");
        let user_store_up = IntGauge::new(
            "watchword_user_store_up",
            "1 while the user store answers, 0 while its database is unreachable.",
        )
        .expect("valid metric");
        let password_hashes_outdated = IntGauge::new(
            "watchword_password_hashes_outdated",
            "Accounts of the users file whose hash is weaker than password.*.",
        )
        .expect("valid metric");
        let rehashes = IntCounterVec::new(
            Opts::new(
                "watchword_password_rehashes_total",
                "Rehashes after a login with an outdated hash, by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let totp = IntCounterVec::new(
            Opts::new(
                "watchword_totp_total",
                "One-time passwords after a right password, and TOTP enrolments, by result.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let refreshes = IntCounterVec::new(
            Opts::new(
                "watchword_refresh_total",
                "Refresh token presentations on /token and /refresh, by result.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let revocations = IntCounterVec::new(
            Opts::new(
                "watchword_revocations_total",
                "Sessions and access tokens revoked by this process, by kind.",
            ),
            &["kind"],
        )
        .expect("valid metric");
        for c in [
            Box::new(revocations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(refreshes.clone()),
            Box::new(logins.clone()),
            Box::new(login_seconds.clone()),
            Box::new(verifications.clone()),
            Box::new(queue_depth.clone()),
            Box::new(in_flight.clone()),
            Box::new(keys.clone()),
            Box::new(user_store_up.clone()),
            Box::new(password_hashes_outdated.clone()),
            Box::new(rehashes.clone()),
            Box::new(totp.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Metrics {
            registry,
            logins,
            login_seconds,
            verifications,
            queue_depth,
            in_flight,
            keys,
            user_store_up,
            password_hashes_outdated,
            rehashes,
            totp,
            refreshes,
            revocations,
        }
    }

    /// Register a metric that another part keeps (the throttle's store errors).
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
        if let Err(e) = self.registry.register(collector) {
            log::error!("metrics: cannot register a metric: {e}");
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding our own well-formed metrics into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
