//! `/verify`: token checking for proxies (nginx `auth_request`, Traefik ForwardAuth).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::api_error::ApiError;
use super::state::AppState;
use watchword_verify::{token_from_authorization_headers, Envelope, Status, VerifyError};

/// Any method: proxies forward the original request's method. 200 with `X-Auth-User` and
/// `X-Auth-Roles` for a valid `Authorization: Bearer|Token <t>`, 401 otherwise.
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let count = |outcome: &str| {
        state
            .metrics
            .verifications
            .with_label_values(&[outcome])
            .inc()
    };
    // Exactly one Authorization header: with two, a proxy or upstream may read the other one.
    let values = req.headers().get_all(header::AUTHORIZATION);
    let claims = token_from_authorization_headers(values.map(|v| v.as_bytes()))
        .and_then(|token| state.loaded().verifier.verify(token))
        .map_err(|e| {
            count(e.reason());
            log::info!(
                "verify outcome={} client={}",
                e.reason(),
                req.peer_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_else(|| "-".into())
            );
            match e {
                VerifyError::MissingToken => ApiError::MissingToken,
                e @ VerifyError::RepeatedAuthorization => ApiError::InvalidRequest(e),
                e => ApiError::InvalidToken(e),
            }
        })?;
    // Revoked (a logout, `/revoke`, `users logout`): the same rule as every verifier's.
    if let Some(revocations) = &state.revocations {
        if revocations.current().await.list.is_revoked(&claims) {
            let e = VerifyError::Revoked;
            count(e.reason());
            log::info!("verify outcome={} sub={:?}", e.reason(), claims.sub);
            return Err(ApiError::InvalidToken(e));
        }
    }
    // `?scope=a%20b`: every listed scope must be granted (RFC 6750 §3.1), so an nginx
    // `auth_request` location can demand a scope per route.
    if let Some(missing) = required_scopes(req.query_string()).find(|s| !claims.grants_scope(s)) {
        count("insufficient_scope");
        return Err(ApiError::InsufficientScope(shown_scope(missing)));
    }
    count("ok");
    let mut res = HttpResponse::Ok();
    // Names and roles are UTF-8 from our own users file; a value a header cannot carry is
    // left out rather than mangled.
    if let Ok(v) = HeaderValue::from_str(&claims.sub) {
        res.insert_header(("X-Auth-User", v));
    }
    if let Ok(v) = HeaderValue::from_str(&claims.roles.join(",")) {
        res.insert_header(("X-Auth-Roles", v));
    }
    let body = Envelope {
        status: Status::Ok,
        code: 200,
        token: None,
        token_type: None,
        expires_in: None,
        refresh_token: None,
        message: None,
    };
    Ok(res.content_type("application/json").body(body.to_json()))
}

/// A required scope as the 403 names it: as asked when it is a scope token (RFC 6749 §3.3's
/// characters), otherwise `(malformed)`, so that no control character or other text a client
/// put in the query comes back in the answer (no token can grant such a scope anyway).
fn shown_scope(scope: String) -> String {
    let valid = scope
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if valid {
        scope
    } else {
        "(malformed)".to_owned()
    }
}

/// The scopes of every `scope` query parameter, space-separated (form-urlencoded).
fn required_scopes(query: &str) -> impl Iterator<Item = String> + '_ {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| {
            v.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
}
