//! The login path, apart from HTTP: who is logging in ([`credentials`]), the accounts they
//! are checked against ([`users`]), the password rules and hashes ([`password`]), the hashes
//! unknown names are checked against ([`dummy`]), the threads that run argon2
//! ([`hash_pool`]), the brute-force limits ([`throttle`]) and the second factor ([`totp`]).

pub mod credentials;
pub mod dummy;
pub mod hash_pool;
pub mod password;
pub mod throttle;
pub mod totp;
pub mod users;
