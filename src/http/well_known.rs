//! Key discovery: what stock JOSE clients fetch to verify watchword tokens themselves.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};

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

/// `GET /.well-known/openid-configuration`: enough of OpenID discovery for JWKS clients
/// (PyJWT, jose, Envoy …) to find the keys from the issuer URL.
pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ))
        .content_type("application/json")
        .body(state.loaded().discovery.clone())
}

/// The discovery document for an issuer URL and algorithm.
pub fn discovery_document(issuer: &str, alg: &str) -> String {
    let base = issuer.trim_end_matches('/');
    serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": [alg],
        "token_endpoint": format!("{base}/login"),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    })
    .to_string()
}
