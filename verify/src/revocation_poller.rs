//! Keeps a [`Verifier`](crate::Verifier)'s revocation list fresh from the login service's
//! `/.well-known/revocations` (`remote-jwks` feature): one conditional GET per interval, the
//! last good list kept when a poll fails, and the task ends with the verifier.

use std::sync::{Arc, Weak};
use std::time::Duration;

use reqwest::header::{ETAG, IF_NONE_MATCH};
use reqwest::{Client, StatusCode, Url};

use crate::error::KeyError;
use crate::revocations::{RevocationList, SharedRevocations};

/// Shortest poll interval honoured: a zero interval would spin on the login service.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Largest list accepted (16 MiB: about 200 000 entries).
const MAX_BYTES: usize = 16 << 20;

fn error(url: &str, reason: impl Into<String>) -> KeyError {
    KeyError::Fetch {
        url: url.to_owned(),
        reason: reason.into(),
    }
}

/// One poll: `Ok(None)` when unchanged (304), else the list and its `ETag`.
async fn fetch(
    client: &Client,
    url: &Url,
    etag: Option<&str>,
) -> Result<Option<(RevocationList, Option<String>)>, KeyError> {
    let mut request = client.get(url.clone());
    if let Some(etag) = etag {
        request = request.header(IF_NONE_MATCH, etag);
    }
    let response = request
        .send()
        .await
        .map_err(|e| error(url.as_str(), e.to_string()))?;
    if response.status() == StatusCode::NOT_MODIFIED {
        return Ok(None);
    }
    if !response.status().is_success() {
        return Err(error(
            url.as_str(),
            format!("HTTP status {}", response.status()),
        ));
    }
    let etag = response
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BYTES as u64)
    {
        return Err(error(url.as_str(), "the list is too large"));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| error(url.as_str(), e.to_string()))?;
    if body.len() > MAX_BYTES {
        return Err(error(url.as_str(), "the list is too large"));
    }
    let list = RevocationList::from_json(&body)
        .map_err(|e| error(url.as_str(), format!("not a revocation list: {e}")))?;
    Ok(Some((list, etag)))
}

/// First fetch now (its error is returned), then a background task.
pub(crate) async fn start(
    url: &str,
    interval: Duration,
    slot: &Arc<SharedRevocations>,
) -> Result<(), KeyError> {
    let parsed = Url::parse(url).map_err(|e| error(url, e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(error(url, "only http and https URLs are supported"));
    }
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("watchword-verifier/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| error(url, e.to_string()))?;
    let mut etag = None;
    if let Some((list, tag)) = fetch(&client, &parsed, None).await? {
        slot.replace(list);
        etag = tag;
    }
    let weak = Arc::downgrade(slot);
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(run(client, parsed, interval.max(MIN_INTERVAL), etag, weak));
        }
        Err(_) => log::warn!("no Tokio runtime: the revocation list from {url} is not polled"),
    }
    Ok(())
}

async fn run(
    client: Client,
    url: Url,
    interval: Duration,
    mut etag: Option<String>,
    slot: Weak<SharedRevocations>,
) {
    loop {
        tokio::time::sleep(interval).await;
        if slot.strong_count() == 0 {
            return;
        }
        let result = fetch(&client, &url, etag.as_deref()).await;
        let Some(slot) = slot.upgrade() else {
            return;
        };
        match result {
            Ok(None) => {}
            Ok(Some((list, tag))) => {
                slot.replace(list);
                etag = tag;
            }
            Err(e) => log::warn!("{e}; keeping the last revocation list"),
        }
    }
}
