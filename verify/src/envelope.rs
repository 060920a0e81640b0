//! The JSON envelope every answer uses: `{"status":"ok","code":200,"token":…}` or
//! `{"status":"error","code":402,"message":…}` (seed `002`).
//!
//! It lives in the verifier crate, which the login service depends on, so a sibling service's
//! extractor answers in exactly the shape the login service does.

use serde::{Deserialize, Serialize};

/// `"ok"` or `"error"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The request did what was asked.
    Ok,
    /// It did not; `message` says why.
    Error,
}

/// One answer body. Field order is the wire order, so bodies are byte-stable: two failures
/// with the same code and message serialize to identical bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// `"ok"` or `"error"`.
    pub status: Status,
    /// The API code of the seed's table (it may differ from the HTTP status: a missing field is
    /// HTTP 400 with code 402).
    pub code: u16,
    /// The signed token, on a successful login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `"Bearer"` with a token, for OAuth-style clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Seconds until the token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// The session's refresh token, on a login or refresh while `sessions.enabled` (send it to
    /// `/refresh` for the next access token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// What went wrong, on an error. Never carries internals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Envelope {
    /// An error envelope.
    pub fn error(code: u16, message: impl Into<String>) -> Self {
        Envelope {
            status: Status::Error,
            code,
            token: None,
            token_type: None,
            expires_in: None,
            refresh_token: None,
            message: Some(message.into()),
        }
    }

    /// A successful login answer.
    pub fn token(token: String, expires_in: u64) -> Self {
        Envelope {
            status: Status::Ok,
            code: 200,
            token: Some(token),
            token_type: Some("Bearer".into()),
            expires_in: Some(expires_in),
            refresh_token: None,
            message: None,
        }
    }

    /// Serialize; cannot fail for this type (only strings and integers).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"status":"error","code":500,"message":"Internal error."}"#.to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shape_matches_the_seed() {
        let e = Envelope::error(402, "Required field User-Name is not specified.");
        assert_eq!(
            e.to_json(),
            r#"{"status":"error","code":402,"message":"Required field User-Name is not specified."}"#
        );
    }
}
