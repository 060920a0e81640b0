//! A sibling service that trusts watchword tokens, checked locally on every request.
//!
//! It fetches the login service's keys once (and again on rotation), then never calls it per
//! request. Run the login service, then:
//!
//! ```sh
//! WATCHWORD_URL=http://127.0.0.1:8080 cargo run --example sibling_service --features actix,remote-jwks
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/hello
//! ```

use actix_web::{get, web, App, HttpServer};
use watchword_verify::actix::{AuthError, Authenticated};
use watchword_verify::{RemoteOptions, Validation, Verifier};

/// Any valid token.
#[get("/hello")]
async fn hello(auth: Authenticated) -> String {
    format!("hello {}\n", auth.claims().sub)
}

/// Only tokens carrying the `admin` role.
#[get("/admin")]
async fn admin(auth: Authenticated) -> Result<String, AuthError> {
    auth.require_role("admin")?;
    Ok(format!("welcome, administrator {}\n", auth.claims().sub))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let login = std::env::var("WATCHWORD_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let bind = std::env::var("SIBLING_BIND").unwrap_or_else(|_| "127.0.0.1:8081".into());
    // The discovery document names the JWKS; the issuer check pins tokens to this login service.
    let verifier = Verifier::from_url(
        &format!("{login}/.well-known/openid-configuration"),
        Validation {
            issuer: std::env::var("WATCHWORD_ISSUER").ok(),
            ..Validation::default()
        },
        RemoteOptions::default(),
    )
    .await
    .map_err(std::io::Error::other)?;
    let verifier = web::Data::new(verifier);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .service(hello)
            .service(admin)
    })
    .workers(1)
    .bind(&bind)?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    server.run().await
}
