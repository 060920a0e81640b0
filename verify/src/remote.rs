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
    /// Fetch keys over plain `http://` from a host that is not loopback (default false): keys
    /// fetched in clear can be swapped by anyone on the path, and every token they sign is
    /// then accepted. Loopback (`127.0.0.0/8`, `::1`, `localhost`) is always allowed.
    pub allow_http: bool,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            refresh_interval: Duration::from_secs(300),
            cooldown: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            max_response_bytes: 1 << 20,
            allow_http: false,
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
            log::debug!(
                "unknown kid: refreshing keys from {}",
                shown(&shared.jwks_url)
            );
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
                shown(&self.shared.jwks_url)
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
                    log::debug!(
                        "{} keys loaded from {}",
                        fresh.len(),
                        shown(&self.shared.jwks_url)
                    );
                    slot.replace(fresh);
                }
                Err(e) => log::warn!("{e}; keeping the last good keys"),
            }
        }
    }
}

fn fetch_error(url: &Url, reason: impl Into<String>) -> KeyError {
    KeyError::Fetch {
        url: shown(url),
        reason: reason.into(),
    }
}

/// `url` as errors and logs show it: without its userinfo (`user:password@`), which may be a
/// credential for the key endpoint.
pub(crate) fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// Plain http is for loopback only, unless the caller allowed it.
fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// A redirect is followed only to the same host and never from https to http: a key endpoint
/// that sends the verifier elsewhere, or down to clear text, is refused (`from` is the URL
/// asked, `to` where the server points).
pub(crate) fn redirect_allowed(from: &Url, to: &Url) -> bool {
    let downgrade = from.scheme() == "https" && to.scheme() != "https";
    !downgrade
        && from.host_str() == to.host_str()
        && from.port_or_known_default() == to.port_or_known_default()
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
        .map_err(|e| fetch_error(url, chain(&e.without_url())))?;
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
        .map_err(|e| fetch_error(url, chain(&e.without_url())))?
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

fn parse_http_url(text: &str, allow_http: bool) -> Result<Url, KeyError> {
    let url = Url::parse(text).map_err(|e| KeyError::Fetch {
        // Not a URL: nothing to take userinfo out of, and the text may hold one.
        url: "(unparsable URL)".to_owned(),
        reason: e.to_string(),
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_http || is_loopback(&url) => Ok(url),
        "http" => Err(fetch_error(
            &url,
            "keys are fetched over https only (plain http is allowed for loopback, or with \
             RemoteOptions::allow_http)",
        )),
        _ => Err(fetch_error(&url, "only http and https URLs are supported")),
    }
}

/// First fetch: resolve a discovery document to its `jwks_uri` (once), load the keys.
pub(crate) async fn connect(
    url: &str,
    options: RemoteOptions,
) -> Result<(KeySet, Remote, Task), KeyError> {
    let url = parse_http_url(url, options.allow_http)?;
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let allowed = attempt
                .previous()
                .last()
                .is_some_and(|from| redirect_allowed(from, attempt.url()));
            if !allowed {
                attempt.error("a redirect to another host or from https to http")
            } else if attempt.previous().len() > 5 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
        .timeout(options.timeout)
        .connect_timeout(options.timeout)
        .user_agent(concat!("watchword-verifier/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fetch_error(&url, chain(&e.without_url())))?;
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
        let jwks_url = parse_http_url(jwks_url.as_str(), options.allow_http)?;
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
    log::debug!("{} keys loaded from {}", keys.len(), shown(&jwks_url));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_the_host_and_never_go_down_to_http() {
        let url = |s: &str| Url::parse(s).unwrap();
        let from = url("https://login.example/jwks.json");
        assert!(redirect_allowed(&from, &url("https://login.example/keys")));
        assert!(!redirect_allowed(&from, &url("http://login.example/keys")));
        assert!(!redirect_allowed(&from, &url("https://evil.example/keys")));
        assert!(!redirect_allowed(
            &from,
            &url("https://login.example:8443/keys")
        ));
        let plain = url("http://127.0.0.1:8080/jwks.json");
        assert!(redirect_allowed(&plain, &url("http://127.0.0.1:8080/k")));
        assert!(redirect_allowed(&plain, &url("https://127.0.0.1:8080/k")));
    }

    #[test]
    fn shown_urls_have_no_userinfo() {
        let url = Url::parse("https://keys:s3cr3t@login.example/jwks.json").unwrap();
        assert_eq!(shown(&url), "https://login.example/jwks.json");
    }
}
