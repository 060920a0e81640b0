//! Key discovery: what stock JOSE clients fetch to verify watchword tokens themselves.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use super::api_error::ApiError;
use super::state::AppState;

/// `GET /.well-known/jwks.json`: the public keys. Cacheable for a few minutes: verifiers
/// refetch on an unknown `kid` anyway, and rotation waits longer than this (README).
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ))
        .content_type("application/jwk-set+json")
        .body(state.loaded().jwks.clone())
}

/// `GET /.well-known/openid-configuration` (and RFC 8414's
/// `/.well-known/oauth-authorization-server`): enough of OpenID and OAuth discovery for JWKS
/// clients (PyJWT, jose, Envoy …) to find the keys, and OAuth clients the token endpoint.
pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ))
        .content_type("application/json")
        .body(state.loaded().discovery.clone())
}

/// `GET /.well-known/revocations`: the revoked access tokens that can still be valid, for
/// verifiers that check tokens locally (`watchword-verify`'s poller). `ETag` and
/// `If-None-Match` make an unchanged list a 304; `max-age` is the poll interval. 404 while
/// sessions are off.
pub async fn revocations(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(revocations) = &state.revocations else {
        return ApiError::NotFound.error_response();
    };
    let published = revocations.current().await;
    let max_age = format!("public, max-age={}", revocations.poll().as_secs().max(1));
    let cache = HeaderValue::from_str(&max_age).unwrap_or(HeaderValue::from_static("no-cache"));
    let etag = HeaderValue::from_str(&published.etag).ok();
    let unchanged = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == published.etag || tag.trim() == "*");
    let mut res = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::CACHE_CONTROL, cache));
    if let Some(etag) = etag {
        res.insert_header((header::ETAG, etag));
    }
    if unchanged {
        return res.finish();
    }
    res.content_type("application/json")
        .body(published.body.clone())
}

/// The discovery document for an issuer URL and algorithm; `scopes` are the permissions the
/// configured roles grant (`scopes_supported`, left out when there are none).
pub fn discovery_document<'a>(
    issuer: &str,
    alg: &str,
    scopes: impl IntoIterator<Item = &'a str>,
    sessions: bool,
) -> String {
    let base = issuer.trim_end_matches('/');
    let mut doc = serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": [alg],
        "token_endpoint": format!("{base}/token"),
        "grant_types_supported": ["password", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    });
    if sessions {
        doc["grant_types_supported"] =
            serde_json::json!(["password", "client_credentials", "refresh_token"]);
        // A watchword extension: where verifiers that check tokens locally find what is
        // revoked (docs/sessions.md).
        doc["revocations_uri"] = serde_json::json!(format!("{base}/.well-known/revocations"));
        doc["revocation_endpoint"] = serde_json::json!(format!("{base}/revoke"));
        // A token issued without a client is revoked by presenting it alone.
        doc["revocation_endpoint_auth_methods_supported"] =
            serde_json::json!(["client_secret_basic", "client_secret_post", "none"]);
        doc["introspection_endpoint"] = serde_json::json!(format!("{base}/introspect"));
        doc["introspection_endpoint_auth_methods_supported"] =
            serde_json::json!(["client_secret_basic", "client_secret_post"]);
    }
    let scopes: Vec<&str> = scopes.into_iter().collect();
    if !scopes.is_empty() {
        doc["scopes_supported"] = serde_json::json!(scopes);
    }
    doc.to_string()
}
