//! Every error answer of the service, and the one place that turns it into HTTP.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::database::QueryError;
use crate::error_chain::error_chain;
use crate::login::hash_pool::PoolError;
use crate::token::issuer::IssueError;
use watchword_verify::{Envelope, VerifyError};

/// `Retry-After` (seconds) while the user store's database is unreachable: long enough not
/// to hammer a database that is restarting, short enough for a failover.
pub const STORE_RETRY_AFTER: &str = "5";

/// What went wrong inside the service: logged with its causes, never shown to a client.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// actix gave the request no peer address (never expected on TCP).
    #[error("the connection has no peer address")]
    NoPeerAddress,
    /// The hashing pool failed otherwise than by being full.
    #[error("password check failed")]
    Pool(#[source] PoolError),
    /// A token could not be signed with a key that passed loading.
    #[error("token signing failed")]
    Issue(#[source] IssueError),
    /// The user store's database answered, but not as expected (a malformed row).
    #[error("user store")]
    Store(#[source] QueryError),
    /// An account's TOTP could not be judged (no key configured, a secret that does not
    /// open, a database error): the login is refused, never let in on the password alone.
    #[error("TOTP check failed")]
    Totp(#[source] crate::login::totp::CheckError),
    /// A self-service enrolment ticket could not be sealed.
    #[error("TOTP key")]
    TotpKey(#[source] crate::login::totp::key::TotpKeyError),
    /// The task running a login attempt stopped before answering (it panicked).
    #[error("the login task stopped: {0}")]
    Task(String),
}

/// What went wrong with a request. The `Display` text is the `message` the client sees, so it
/// never carries internals; [`ApiError::Internal`] keeps its detail for the log only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A required header is absent (seed: code 402).
    #[error("Required field {0} is not specified.")]
    MissingField(&'static str),
    /// A required header is present but empty (seed: code 402).
    #[error("Required field {0} is empty.")]
    EmptyField(&'static str),
    /// The same header twice: which one would count is ambiguous, so neither does.
    #[error("Field {0} is given more than once.")]
    RepeatedField(&'static str),
    /// Over the field's limit; refused before any hashing.
    #[error("Field {0} is longer than {1} bytes.")]
    FieldTooLong(&'static str, usize),
    /// Header bytes that are not UTF-8.
    #[error("Field {0} is not valid UTF-8.")]
    FieldNotUtf8(&'static str),
    /// A name (user, service identifier, organisation, unit) with a control character: no
    /// account can hold one, and a NUL would reach the database as a query it refuses.
    #[error("Field {0} holds a control character.")]
    ControlCharacter(&'static str),
    /// Credentials in more than one place (headers, Basic, body; user and service).
    #[error("Credentials given twice.")]
    CredentialsTwice,
    /// A body that is not JSON, or not an object of string fields.
    #[error("Body is not a JSON object with string fields.")]
    BadBody,
    /// A body over `login.max_body_bytes`.
    #[error("Body is larger than {0} bytes.")]
    BodyTooLarge(usize),
    /// The body did not arrive within `login.body_timeout` (a slow or silent client).
    #[error("Request body not received in time.")]
    BodyTimeout,
    /// A body in another format than JSON.
    #[error("Unsupported content type; send application/json.")]
    UnsupportedContentType,
    /// `Authorization: Basic` that is not base64 of `user:password`.
    #[error("Field Authorization is not valid Basic credentials.")]
    BadBasic,
    /// Unknown user, wrong password or disabled user: one answer for all three.
    #[error("Invalid user name or password.")]
    BadCredentials,
    /// A right password for an account with TOTP on, and no one-time password: the client
    /// should ask for one. Counted as a failure.
    #[error("One-time password required.")]
    OtpRequired,
    /// A right password for an account whose role requires TOTP (`totp.required_roles`),
    /// which has none.
    #[error("One-time password enrolment required.")]
    EnrolmentRequired,
    /// `/totp/*` on a service without `keys.totp_key_file` (or with the users file).
    #[error("TOTP is not configured on this service.")]
    TotpNotConfigured,
    /// `/totp/*` with a service account's token.
    #[error("TOTP is for people; service accounts log in with their pass code.")]
    TotpForPeople,
    /// `/totp/*` for an account whose TOTP is on already (turn it off first, by the CLI).
    #[error("TOTP is on already.")]
    TotpOnAlready,
    /// `/totp/confirm` with a ticket that is not this account's, altered or expired.
    #[error("Invalid or expired enrolment ticket.")]
    BadTicket,
    /// `/totp/confirm` with a code that is not the ticket secret's code now.
    #[error("Invalid one-time password.")]
    WrongOtp,
    /// A refresh token that earns nothing (unknown, expired, revoked, replayed, its account
    /// changed): one answer for all on `/refresh`.
    #[error("Invalid refresh token.")]
    InvalidRefreshToken,
    /// Too many recent failures for this user name and address, or this address.
    #[error("Too many failed attempts. Try again in {0} seconds.")]
    Throttled(u64),
    /// The hashing queue is full (load shedding).
    #[error("Service busy, try again.")]
    Busy,
    /// The user store's database cannot be reached: nothing was checked or counted. The
    /// cause is logged (without the URL's password), never shown.
    #[error("Service unavailable, try again.")]
    StoreUnavailable(String),
    /// No `Authorization` token on `/verify`.
    #[error("Missing token.")]
    MissingToken,
    /// The token did not verify.
    #[error("Invalid token: {0}.")]
    InvalidToken(VerifyError),
    /// A valid token without a scope that `/verify?scope=…` requires.
    #[error("Missing required scope {0}.")]
    InsufficientScope(String),
    /// A malformed `/verify` request (more than one `Authorization` header).
    #[error("Invalid request: {0}.")]
    InvalidRequest(VerifyError),
    /// Unknown route.
    #[error("Not found.")]
    NotFound,
    /// Known route, wrong method; carries the `Allow` header value.
    #[error("Method not allowed.")]
    MethodNotAllowed(&'static str),
    /// Anything unexpected; the cause goes to the log, the client sees "Internal error.".
    #[error("Internal error.")]
    Internal(#[source] InternalError),
}

impl ApiError {
    /// The envelope's `code`: the seed's API code, which differs from the HTTP status for a
    /// missing or empty field (HTTP 400, code 402).
    pub fn code(&self) -> u16 {
        match self {
            ApiError::MissingField(_) | ApiError::EmptyField(_) => 402,
            other => other.status_code().as_u16(),
        }
    }

    /// Short outcome name for logs and metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            ApiError::BadCredentials | ApiError::InvalidRefreshToken => "bad_credentials",
            ApiError::OtpRequired => "otp_required",
            ApiError::EnrolmentRequired => "enrolment_required",
            ApiError::Busy => "shed",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::Throttled(_) => "throttled",
            ApiError::BodyTimeout => "body_timeout",
            ApiError::Internal(_) => "internal_error",
            ApiError::InvalidToken(e) | ApiError::InvalidRequest(e) => e.reason(),
            ApiError::MissingToken => "missing_token",
            ApiError::InsufficientScope(_) => "insufficient_scope",
            _ => "bad_request",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MissingField(_)
            | ApiError::EmptyField(_)
            | ApiError::RepeatedField(_)
            | ApiError::FieldTooLong(..)
            | ApiError::FieldNotUtf8(_)
            | ApiError::ControlCharacter(_)
            | ApiError::CredentialsTwice
            | ApiError::BadBody
            | ApiError::BodyTooLarge(_)
            | ApiError::BadBasic
            | ApiError::BadTicket
            | ApiError::WrongOtp => StatusCode::BAD_REQUEST,
            ApiError::TotpNotConfigured => StatusCode::NOT_FOUND,
            ApiError::TotpOnAlready => StatusCode::CONFLICT,
            ApiError::UnsupportedContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::BadCredentials
            | ApiError::OtpRequired
            | ApiError::InvalidRefreshToken
            | ApiError::MissingToken
            | ApiError::InvalidToken(_)
            | ApiError::InvalidRequest(_) => StatusCode::UNAUTHORIZED,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy | ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientScope(_)
            | ApiError::EnrolmentRequired
            | ApiError::TotpForPeople => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            log::error!("internal error: {}", error_chain(cause));
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self {
            ApiError::Busy => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            ApiError::StoreUnavailable(_) => {
                res.insert_header((
                    header::RETRY_AFTER,
                    HeaderValue::from_static(STORE_RETRY_AFTER),
                ));
            }
            ApiError::Throttled(secs) => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from(*secs)));
            }
            // The rest of the body may still be on its way: never read it as the next request.
            ApiError::BodyTimeout => {
                res.force_close();
            }
            ApiError::MethodNotAllowed(allow) => {
                res.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
            }
            // RFC 9110 wants a challenge with every 401; Basic is one of the ways /login takes.
            ApiError::BadCredentials | ApiError::OtpRequired => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="watchword", charset="UTF-8""#),
                ));
            }
            ApiError::MissingToken | ApiError::InvalidRefreshToken => {
                res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            ApiError::InsufficientScope(_) => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="insufficient_scope""#),
                ));
            }
            ApiError::InvalidToken(e) | ApiError::InvalidRequest(e) => {
                let v = format!(
                    r#"Bearer error="{}", error_description="{}""#,
                    e.error_code(),
                    e.reason()
                );
                if let Ok(v) = HeaderValue::from_str(&v) {
                    res.insert_header((header::WWW_AUTHENTICATE, v));
                }
            }
            _ => {}
        }
        res.content_type("application/json")
            .body(Envelope::error(self.code(), self.to_string()).to_json())
    }
}
