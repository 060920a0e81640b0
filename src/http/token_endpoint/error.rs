//! Every error answer of `/token`, and the one place that turns it into RFC 6749 §5.2 JSON:
//! `{"error", "error_description"}` with `Cache-Control: no-store` and `Pragma: no-cache`.

use std::borrow::Cow;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error_chain::error_chain;
use crate::http::api_error::InternalError;
use crate::http::attempt::Refused;

/// The challenge of every `invalid_client` answer: the scheme clients authenticate with.
pub const CLIENT_CHALLENGE: &str = r#"Basic realm="watchword", charset="UTF-8""#;

/// What went wrong with a token request. The `Display` text is the `error_description`; it
/// names parameters, never their values.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// A parameter missing, empty, repeated, too long or not UTF-8, conflicting client
    /// credentials, or a malformed `Authorization` header (400).
    #[error("{0}")]
    InvalidRequest(Cow<'static, str>),
    /// The body is not `application/x-www-form-urlencoded` in UTF-8 or ISO-8859-1 (415,
    /// `invalid_request`).
    #[error("The body must be application/x-www-form-urlencoded.")]
    UnsupportedMediaType,
    /// A `grant_type` other than `password`, `client_credentials` and (with sessions)
    /// `refresh_token` (400). The text names the two grants every deployment has.
    #[error("The grant_type must be password or client_credentials.")]
    UnsupportedGrantType,
    /// Wrong password, unknown user or disabled user: one body for the three (400).
    #[error("Invalid user name or password.")]
    InvalidGrant,
    /// A right password without the one-time password its account needs (400
    /// `invalid_grant`, this description, so a client knows to ask for one).
    #[error("One-time password required.")]
    OtpRequired,
    /// A right password of an account whose role requires TOTP and that has none (400
    /// `invalid_grant`).
    #[error("One-time password enrolment required.")]
    EnrolmentRequired,
    /// A refresh token that earns nothing (400 `invalid_grant`): one body for every reason.
    #[error("The refresh token is invalid, expired or revoked.")]
    InvalidRefreshToken,
    /// A malformed scope, or one that is not among the account's permissions (400).
    #[error("{0}")]
    InvalidScope(&'static str),
    /// Client authentication failed or was missing, in the header or in the body: 401 with
    /// `WWW-Authenticate: Basic` either way, one body for every case.
    #[error("Client authentication failed.")]
    InvalidClient,
    /// Too many failed attempts (429, with `Retry-After`).
    #[error("Too many failed attempts. Try again in {0} seconds.")]
    Throttled(u64),
    /// The hashing queue is full (503, `Retry-After: 1`).
    #[error("Service busy, try again.")]
    Busy,
    /// The user store (the database) cannot be reached (503, `Retry-After`); the text is for
    /// the log, the client sees "Service unavailable, try again.".
    #[error("Service unavailable, try again.")]
    StoreUnavailable(String),
    /// The body did not arrive in full within `login.body_timeout` (408, `invalid_request`;
    /// the connection is closed).
    #[error("The body did not arrive in time.")]
    BodyTimeout,
    /// Not `POST` (405, `Allow: POST`).
    #[error("The token endpoint takes POST only.")]
    MethodNotAllowed,
    /// Anything unexpected; the cause goes to the log (500 `server_error`).
    #[error("Internal error.")]
    Internal(#[source] InternalError),
}

impl OAuthError {
    /// An `invalid_request` with this description.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::InvalidRequest(description.into())
    }

    /// The `error` code (RFC 6749 §5.2; 429 and 503 use `temporarily_unavailable`, the
    /// registered code for an overloaded server, §4.1.2.1).
    pub fn error(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_)
            | OAuthError::UnsupportedMediaType
            | OAuthError::BodyTimeout
            | OAuthError::MethodNotAllowed => "invalid_request",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidGrant
            | OAuthError::InvalidRefreshToken
            | OAuthError::OtpRequired
            | OAuthError::EnrolmentRequired => "invalid_grant",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::Throttled(_) | OAuthError::Busy | OAuthError::StoreUnavailable(_) => {
                "temporarily_unavailable"
            }
            OAuthError::Internal(_) => "server_error",
        }
    }

    /// Short outcome name for logs and metrics (the same names as `/login`'s).
    pub fn outcome(&self) -> &'static str {
        match self {
            OAuthError::InvalidGrant
            | OAuthError::InvalidRefreshToken
            | OAuthError::InvalidClient => "bad_credentials",
            OAuthError::OtpRequired => "otp_required",
            OAuthError::EnrolmentRequired => "enrolment_required",
            OAuthError::Throttled(_) => "throttled",
            OAuthError::Busy => "shed",
            OAuthError::StoreUnavailable(_) => "store_unavailable",
            OAuthError::Internal(_) => "internal_error",
            OAuthError::BodyTimeout => "body_timeout",
            _ => "bad_request",
        }
    }
}

impl From<Refused> for OAuthError {
    fn from(refused: Refused) -> OAuthError {
        match refused {
            Refused::BadCredentials => OAuthError::InvalidGrant,
            Refused::BadClient => OAuthError::InvalidClient,
            Refused::ScopeNotGranted => OAuthError::InvalidScope(
                "The requested scope is not among the account's permissions.",
            ),
            Refused::OtpRequired => OAuthError::OtpRequired,
            Refused::EnrolmentRequired => OAuthError::EnrolmentRequired,
            Refused::InvalidRefresh(_) => OAuthError::InvalidRefreshToken,
            Refused::Throttled(secs) => OAuthError::Throttled(secs),
            Refused::Busy => OAuthError::Busy,
            Refused::StoreUnavailable(cause) => OAuthError::StoreUnavailable(cause),
            Refused::Internal(e) => OAuthError::Internal(e),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// The headers of every `/token` answer, success or not (RFC 6749 §5.1).
pub fn no_store(res: &mut actix_web::HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            OAuthError::InvalidRequest(_)
            | OAuthError::UnsupportedGrantType
            | OAuthError::InvalidGrant
            | OAuthError::OtpRequired
            | OAuthError::EnrolmentRequired
            | OAuthError::InvalidRefreshToken
            | OAuthError::InvalidScope(_) => StatusCode::BAD_REQUEST,
            OAuthError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            OAuthError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            OAuthError::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            OAuthError::Busy | OAuthError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            OAuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let OAuthError::Internal(cause) = self {
            log::error!("internal error: {}", error_chain(cause));
        }
        let mut res = HttpResponse::build(self.status_code());
        no_store(&mut res);
        match self {
            OAuthError::InvalidClient => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(CLIENT_CHALLENGE),
                ));
            }
            OAuthError::Throttled(secs) => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from(*secs)));
            }
            OAuthError::Busy => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            OAuthError::StoreUnavailable(_) => {
                res.insert_header((
                    header::RETRY_AFTER,
                    HeaderValue::from_static(crate::http::api_error::STORE_RETRY_AFTER),
                ));
            }
            OAuthError::MethodNotAllowed => {
                res.insert_header((header::ALLOW, HeaderValue::from_static("POST")));
            }
            // The rest of the body may still be on its way: never read it as the next request.
            OAuthError::BodyTimeout => {
                res.force_close();
            }
            _ => {}
        }
        let description = self.to_string();
        let body = Body {
            error: self.error(),
            error_description: &description,
        };
        // Two strings: serializing cannot fail.
        res.content_type("application/json")
            .body(serde_json::to_string(&body).unwrap_or_default())
    }
}
