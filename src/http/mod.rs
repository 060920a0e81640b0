//! The HTTP face of the service: shared state, routes, and one file per endpoint group.

pub mod api_error;
pub mod attempt;
pub mod client_address;
pub mod grant;
pub mod login;
pub mod login_request;
pub mod logout;
pub mod refresh;
pub mod refresh_endpoint;
mod second_factor;
pub mod state;
pub mod token_endpoint;
pub mod totp;
pub mod unread_body;
pub mod verify;
pub mod well_known;

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse, ResponseError};

use api_error::ApiError;
pub use state::{AppState, Loaded};

/// A resource answering `GET` only, with the 405 envelope (and `Allow`) for other methods.
fn get_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(web::to(|| async {
            ApiError::MethodNotAllowed("GET").error_response()
        }))
}

/// Register every route of the service's port on an actix `App`: all but `/metrics`, which is
/// only ever on the `metrics.bind` listener ([`metrics_only`]).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/login")
            .route(web::get().to(login::login))
            .route(web::post().to(login::login))
            .default_service(web::to(|| async {
                ApiError::MethodNotAllowed("GET, POST").error_response()
            })),
    )
    .service(
        web::resource("/token")
            .route(web::post().to(token_endpoint::token))
            .default_service(web::to(token_endpoint::method_not_allowed)),
    )
    // The header style of a refresh (the /login envelope); 401 while sessions are off.
    .service(
        web::resource("/refresh")
            .route(web::post().to(refresh_endpoint::refresh_endpoint))
            .default_service(web::to(|| async {
                ApiError::MethodNotAllowed("POST").error_response()
            })),
    )
    .service(
        web::resource("/logout")
            .route(web::post().to(logout::logout))
            .default_service(web::to(|| async {
                ApiError::MethodNotAllowed("POST").error_response()
            })),
    )
    .service(get_only(
        "/.well-known/revocations",
        well_known::revocations,
    ))
    .service(
        web::resource("/revoke")
            .route(web::post().to(token_endpoint::token_query::revoke))
            .default_service(web::to(token_endpoint::method_not_allowed)),
    )
    .service(
        web::resource("/introspect")
            .route(web::post().to(token_endpoint::token_query::introspect))
            .default_service(web::to(token_endpoint::method_not_allowed)),
    )
    // Any method: proxies forward the original request's method to their auth endpoint.
    .service(web::resource("/verify").to(verify::verify))
    .service(
        web::resource("/totp/enroll")
            .route(web::post().to(totp::enroll))
            .default_service(web::to(|| async {
                ApiError::MethodNotAllowed("POST").error_response()
            })),
    )
    .service(
        web::resource("/totp/confirm")
            .route(web::post().to(totp::confirm))
            .default_service(web::to(|| async {
                ApiError::MethodNotAllowed("POST").error_response()
            })),
    )
    .service(get_only("/.well-known/jwks.json", well_known::jwks))
    .service(get_only(
        "/.well-known/openid-configuration",
        well_known::discovery,
    ))
    // RFC 8414's name for the same document, where OAuth-only clients look.
    .service(get_only(
        "/.well-known/oauth-authorization-server",
        well_known::discovery,
    ))
    .service(get_only("/healthz", healthz))
    .service(get_only("/readyz", readyz))
    .service(get_only("/openapi.yaml", openapi))
    .default_service(web::to(not_found));
}

/// The whole `App` of the `metrics.bind` listener: `GET /metrics`, and 404 for everything
/// else.
pub fn metrics_only(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only("/metrics", metrics));
    cfg.default_service(web::to(not_found));
}

/// Answers are never cached unless a handler says otherwise (tokens must not sit in caches).
pub fn default_headers() -> DefaultHeaders {
    DefaultHeaders::new().add((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

async fn not_found() -> HttpResponse {
    ApiError::NotFound.error_response()
}

/// The HTTP contract, compiled in so the served copy is always the file in the repository.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// `GET /openapi.yaml`.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ))
        .content_type("application/yaml")
        .body(OPENAPI_YAML)
}

/// `GET /metrics`: Prometheus text format; gauges are read at scrape time.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let m = &state.metrics;
    m.queue_depth.set(state.pool.queue_depth() as i64);
    m.in_flight.set(state.pool.in_flight() as i64);
    m.keys.set(state.loaded().verifier.key_count() as i64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(m.render())
}

/// `GET /readyz`: keys and users are loaded, so logins and `/verify` can succeed. Everything is
/// loaded before the port is bound, so a serving process is ready; the check guards against a
/// state that lost its keys.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.loaded().verifier.key_count() > 0 {
        HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ok","code":200}"#)
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("application/json")
            .body(r#"{"status":"error","code":503,"message":"Not ready."}"#)
    }
}

/// `GET /healthz`: the process is alive and serving HTTP.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok","code":200}"#)
}
