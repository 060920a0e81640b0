//! Tests over HTTP against the real service (bound on port 0), one module per concern.

mod abandoned;
mod attacks;
mod authentication_code;
mod cli;
mod control_characters;
mod database;
mod example;
mod helpers;
mod hostile;
mod loading;
mod login;
mod oauth;
mod openapi;
mod pool;
mod properties;
mod remote;
mod revocation;
mod rotation;
mod sessions;
mod slow_body;
mod stores;
mod styles;
mod throttle_shared;
mod throttle_store;
mod token;
mod users_cli;
