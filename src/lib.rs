//! watchword, the login service: `User-Name`/`Password` (or the seeds' other styles) in, a
//! signed JWT out. Sibling services check those tokens with the `watchword-verify` crate,
//! re-exported here as [`verify`], and never depend on this one.
//!
//! The rooms: [`http`] is the HTTP face (routes, request parsing, the one error → envelope
//! mapping); [`login`] is the login path behind it (credentials, accounts, passwords, the
//! hashing threads, the throttle); [`token`] signs what a login earns; [`config`],
//! [`startup`], [`metrics`] and [`cli`] hold the service together; [`database`] is the SQL
//! database of `[database]` that the database user store keeps its accounts in; [`session`]
//! is refresh tokens and the sessions behind them (kept in that database).
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod database;
pub mod error_chain;
pub mod http;
pub mod login;
pub mod metrics;
pub mod session;
pub mod startup;
pub mod token;

pub use watchword_verify as verify;
pub use watchword_verify::{Claims, Envelope};
