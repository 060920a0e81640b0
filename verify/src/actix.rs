//! actix-web integration: an extractor that turns `Authorization` into verified [`Claims`],
//! and error answers in the same JSON envelope the login service uses.
//!
//! ```no_run
//! use actix_web::{get, web, App};
//! use watchword_verify::actix::{AuthError, Authenticated};
//! # use watchword_verify::{Validation, Verifier};
//!
//! #[get("/admin")]
//! async fn admin(auth: Authenticated) -> Result<String, AuthError> {
//!     auth.require_role("admin")?;
//!     Ok(format!("hello {}", auth.claims().sub))
//! }
//! # fn app(verifier: Verifier) {
//! App::new().app_data(web::Data::new(verifier)).service(admin);
//! # }
//! ```

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::authorization::token_from_authorization_headers;
use crate::claims::Claims;
use crate::envelope::Envelope;
use crate::error::VerifyError;
use crate::verifier::Verifier;

/// The claims of a request whose `Authorization` token verified.
///
/// Taking it as a handler argument is the whole authentication step: the handler only runs
/// for a valid token; otherwise the client gets 401 with `WWW-Authenticate`. The
/// [`Verifier`] is found in app data as `web::Data<Verifier>` or a plain `Verifier`.
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticated(pub Claims);

impl Authenticated {
    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.0
    }

    /// The verified claims, owned.
    pub fn into_claims(self) -> Claims {
        self.0
    }

    /// `Ok` when the token carries `role`; otherwise an error answering 403, so handlers can
    /// write `auth.require_role("admin")?`.
    pub fn require_role(&self, role: &str) -> Result<(), AuthError> {
        if self.0.has_role(role) {
            Ok(())
        } else {
            Err(AuthError::MissingRole(role.to_owned()))
        }
    }

    /// `Ok` when the token's `permissions` claim (an array of strings) contains `permission`;
    /// otherwise an error answering 403. A missing or malformed `permissions` claim grants
    /// nothing.
    pub fn require_permission(&self, permission: &str) -> Result<(), AuthError> {
        let granted = self
            .0
            .extra
            .get("permissions")
            .and_then(|p| p.as_array())
            .is_some_and(|perms| perms.iter().any(|p| p.as_str() == Some(permission)));
        if granted {
            Ok(())
        } else {
            Err(AuthError::MissingPermission(permission.to_owned()))
        }
    }

    /// `Ok` when the token grants `scope` ([`Claims::grants_scope`]: its `scope` claim, or
    /// the `permissions` of a token issued without scopes); otherwise an error answering 403
    /// with `Bearer error="insufficient_scope"` (RFC 6750 §3.1).
    pub fn require_scope(&self, scope: &str) -> Result<(), AuthError> {
        if self.0.grants_scope(scope) {
            Ok(())
        } else {
            Err(AuthError::MissingScope(scope.to_owned()))
        }
    }
}

/// Why a request was not let through, answered as the login service answers: JSON envelope,
/// `Cache-Control: no-store`, and `WWW-Authenticate` per RFC 6750.
///
/// The `Display` text is the envelope's `message`; it never contains the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token: 401 with a bare `WWW-Authenticate: Bearer` (RFC 6750 §3.1: a request
    /// without credentials gets no error code).
    #[error("Missing token.")]
    MissingToken,
    /// The token did not verify: 401 with `Bearer error="invalid_token"` and the reason code
    /// as `error_description`.
    #[error("Invalid token: {0}.")]
    InvalidToken(VerifyError),
    /// The request is malformed (more than one `Authorization` header): 401 with
    /// `Bearer error="invalid_request"` and the reason code as `error_description`.
    #[error("Invalid request: {0}.")]
    InvalidRequest(VerifyError),
    /// Valid token without the required role: 403 with `Bearer error="insufficient_scope"`.
    #[error("Missing required role {0}.")]
    MissingRole(String),
    /// Valid token without the required permission: 403 with `insufficient_scope`.
    #[error("Missing required permission {0}.")]
    MissingPermission(String),
    /// Valid token without the required scope: 403 with `insufficient_scope`.
    #[error("Missing required scope {0}.")]
    MissingScope(String),
    /// No [`Verifier`] in app data: a wiring bug of the service, answered 500 without detail
    /// (the detail is logged).
    #[error("Internal error.")]
    NoVerifier,
}

impl From<VerifyError> for AuthError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::MissingToken => AuthError::MissingToken,
            e @ VerifyError::RepeatedAuthorization => AuthError::InvalidRequest(e),
            e => AuthError::InvalidToken(e),
        }
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::MissingToken | AuthError::InvalidToken(_) | AuthError::InvalidRequest(_) => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::MissingRole(_)
            | AuthError::MissingPermission(_)
            | AuthError::MissingScope(_) => StatusCode::FORBIDDEN,
            AuthError::NoVerifier => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        let challenge = match self {
            AuthError::MissingToken => Some("Bearer".to_owned()),
            AuthError::InvalidToken(e) | AuthError::InvalidRequest(e) => Some(format!(
                r#"Bearer error="{}", error_description="{}""#,
                e.error_code(),
                e.reason()
            )),
            AuthError::MissingRole(_)
            | AuthError::MissingPermission(_)
            | AuthError::MissingScope(_) => Some(r#"Bearer error="insufficient_scope""#.to_owned()),
            AuthError::NoVerifier => None,
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            res.insert_header((header::WWW_AUTHENTICATE, value));
        }
        res.content_type("application/json")
            .body(Envelope::error(status.as_u16(), self.to_string()).to_json())
    }
}

fn authenticate(req: &HttpRequest) -> Result<Authenticated, AuthError> {
    let verifier = match req.app_data::<web::Data<Verifier>>() {
        Some(data) => data.get_ref(),
        None => req.app_data::<Verifier>().ok_or_else(|| {
            log::error!(
                "Authenticated extractor: no Verifier in app data (add web::Data<Verifier>)"
            );
            AuthError::NoVerifier
        })?,
    };
    let refused = |e: VerifyError| {
        log::debug!("token refused: {}", e.reason());
        AuthError::from(e)
    };
    // Exactly one Authorization header: with two, which credential counts would be a guess.
    let values = req.headers().get_all(header::AUTHORIZATION);
    let token = token_from_authorization_headers(values.map(|v| v.as_bytes())).map_err(refused)?;
    let claims = verifier.verify(token).map_err(refused)?;
    Ok(Authenticated(claims))
}

impl FromRequest for Authenticated {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}
