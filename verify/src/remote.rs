//! Keys fetched from the login service and kept fresh in the background.
//!
//! Verification never waits for the network: an unknown `kid` only nudges a background task
//! (rate-limited), and a failed refresh keeps the last good keys. The task holds the verifier
//! weakly and ends when the last clone is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use reqwest::header::ACCEPT;
use reqwest::{Client, Url};
use serde_json::Value;
use tokio::sync::Notify;

use crate::error::KeyError;
use crate::key_set::{KeySet, SharedKeys};

/// Shortest background refresh interval honoured; a zero interval would spin on the issuer.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// How a remote key set is fetched and refreshed.
///
/// The defaults suit a login service that rotates keys rarely and publishes the next key
/// ahead of use; lower `cooldown` only to pick up unannounced rotations faster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOptions {
    /// Background refresh period (default 5 minutes, at least 1 second), so removed keys stop
    /// being trusted without a restart.
    pub refresh_interval: Duration,
    /// Least time between two refreshes triggered by unknown `kid`s (default 30 s): a flood
    /// of tokens with random `kid`s costs the issuer at most one request per cool-down.
    pub cooldown: Duration,
    /// Limit for one HTTP request, connection included (default 10 s).
    pub timeout: Duration,
    /// Largest accepted response body (default 1 MiB), so a misbehaving endpoint cannot make
    /// the verifier buffer without bound.
    pub max_response_bytes: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            refresh_interval: Duration::from_secs(300),
            cooldown: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            max_response_bytes: 1 << 20,
        }
    }
}

/// State shared by the verifier and its refresh task.
struct Shared {
    jwks_url: Url,
    options: RemoteOptions,
    notify: Notify,
    fetches: AtomicU64,
    /// Milliseconds since `origin` of the last kid-triggered refresh, plus one; 0 = never.
    last_trigger: AtomicU64,
    origin: Instant,
}

/// The verifier's side: asks for refreshes; dropping it stops the task.
pub(crate) struct Remote {
    shared: Arc<Shared>,
}

impl Remote {
    /// Called on an unknown `kid`: wake the task unless a refresh was asked for within the
    /// cool-down. Never blocks; at most one caller per cool-down wins the race.
    pub(crate) fn request_refresh(&self) {
        let shared = &self.shared;
        let now = u64::try_from(shared.origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
        let cooldown = u64::try_from(shared.options.cooldown.as_millis()).unwrap_or(u64::MAX);
        let last = shared.last_trigger.load(Ordering::Acquire);
        if last != 0 && now.saturating_sub(last) < cooldown {
            return;
        }
        if shared
            .last_trigger
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            log::debug!("unknown kid: refreshing keys from {}", shared.jwks_url);
            shared.notify.notify_one();
        }
    }

    pub(crate) fn fetch_count(&self) -> u64 {
        self.shared.fetches.load(Ordering::Relaxed)
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // The verifier is gone: wake the task so it notices and ends now, not at its next tick.
        self.shared.notify.notify_one();
    }
}

/// The background task, not yet started (it needs a `Weak` to the verifier's keys).
pub(crate) struct Task {
    shared: Arc<Shared>,
    client: Client,
}

impl Task {
    pub(crate) fn spawn(self, keys: Weak<SharedKeys>) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(self.run(keys));
            }
            Err(_) => log::warn!(
                "no Tokio runtime: keys from {} will not be refreshed",
                self.shared.jwks_url
            ),
        }
    }

    async fn run(self, keys: Weak<SharedKeys>) {
        let interval = self
            .shared
            .options
            .refresh_interval
            .max(MIN_REFRESH_INTERVAL);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.shared.notify.notified() => {}
            }
            if keys.strong_count() == 0 {
                return;
            }
            let result = fetch_jwks(&self.client, &self.shared).await;
            let Some(slot) = keys.upgrade() else {
                return;
            };
            match result {
                Ok(fresh) => {
                    log::debug!("{} keys loaded from {}", fresh.len(), self.shared.jwks_url);
                    slot.replace(fresh);
                }
                Err(e) => log::warn!("{e}; keeping the last good keys"),
            }
        }
    }
}

fn fetch_error(url: &Url, reason: impl Into<String>) -> KeyError {
    KeyError::Fetch {
        url: url.to_string(),
        reason: reason.into(),
    }
}

/// The error and its causes on one line: reqwest's own text alone is often just "error
/// sending request".
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn fetch_json(
    client: &Client,
    shared_fetches: &AtomicU64,
    url: &Url,
    max: usize,
) -> Result<Value, KeyError> {
    shared_fetches.fetch_add(1, Ordering::Relaxed);
    let mut response = client
        .get(url.clone())
        .header(ACCEPT, "application/json, application/jwk-set+json")
        .send()
        .await
        .map_err(|e| fetch_error(url, chain(&e)))?;
    if !response.status().is_success() {
        return Err(fetch_error(
            url,
            format!("HTTP status {}", response.status()),
        ));
    }
    let too_large = || fetch_error(url, format!("response is larger than {max} bytes"));
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fetch_error(url, chain(&e)))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| fetch_error(url, format!("not JSON: {e}")))
}

async fn fetch_jwks(client: &Client, shared: &Shared) -> Result<KeySet, KeyError> {
    let url = &shared.jwks_url;
    let doc = fetch_json(
        client,
        &shared.fetches,
        url,
        shared.options.max_response_bytes,
    )
    .await?;
    KeySet::from_jwks_value(&doc).map_err(|e| fetch_error(url, e.to_string()))
}

fn parse_http_url(text: &str) -> Result<Url, KeyError> {
    let url = Url::parse(text).map_err(|e| KeyError::Fetch {
        url: text.to_owned(),
        reason: e.to_string(),
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        _ => Err(fetch_error(&url, "only http and https URLs are supported")),
    }
}

/// First fetch: resolve a discovery document to its `jwks_uri` (once), load the keys.
pub(crate) async fn connect(
    url: &str,
    options: RemoteOptions,
) -> Result<(KeySet, Remote, Task), KeyError> {
    let url = parse_http_url(url)?;
    let client = Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.timeout)
        .user_agent(concat!("watchword-verifier/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fetch_error(&url, chain(&e)))?;
    let fetches = AtomicU64::new(0);
    let doc = fetch_json(&client, &fetches, &url, options.max_response_bytes).await?;
    let (jwks_url, keys) = if doc.get("keys").is_some() {
        (
            url.clone(),
            KeySet::from_jwks_value(&doc).map_err(|e| fetch_error(&url, e.to_string()))?,
        )
    } else if let Some(jwks_uri) = doc.get("jwks_uri") {
        let jwks_uri = jwks_uri
            .as_str()
            .ok_or_else(|| fetch_error(&url, "jwks_uri is not a string"))?;
        let jwks_url = url
            .join(jwks_uri)
            .map_err(|e| fetch_error(&url, format!("jwks_uri: {e}")))?;
        let jwks_url = parse_http_url(jwks_url.as_str())?;
        let doc = fetch_json(&client, &fetches, &jwks_url, options.max_response_bytes).await?;
        let keys =
            KeySet::from_jwks_value(&doc).map_err(|e| fetch_error(&jwks_url, e.to_string()))?;
        (jwks_url, keys)
    } else {
        return Err(fetch_error(
            &url,
            "neither a JWK Set (\"keys\") nor a discovery document (\"jwks_uri\")",
        ));
    };
    log::debug!("{} keys loaded from {jwks_url}", keys.len());
    let shared = Arc::new(Shared {
        jwks_url,
        options,
        notify: Notify::new(),
        fetches,
        last_trigger: AtomicU64::new(0),
        origin: Instant::now(),
    });
    Ok((
        keys,
        Remote {
            shared: Arc::clone(&shared),
        },
        Task { shared, client },
    ))
}
