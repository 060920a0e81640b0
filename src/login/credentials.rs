//! Who is logging in and with what: the checked result of a login request, whatever style it
//! came in. The password halves are [`SecretString`]s: `{:?}` prints `[REDACTED]`, and the
//! memory is wiped when the request is done.

use secrecy::SecretString;

/// The secret half of a login.
#[derive(Debug)]
pub enum Secret {
    /// A person: user name and password.
    User {
        /// `sub` of the token.
        name: String,
        /// Never logged, never printed.
        password: SecretString,
    },
    /// A service account: access token identifier and pass code.
    Service {
        /// `sub` of the token.
        identifier: String,
        /// Never logged, never printed.
        pass_code: SecretString,
    },
    /// A service account's authentication code alone (seed 003): an opaque API key that names
    /// no account; the account is the one whose `authentication_code_hash` it matches.
    Code {
        /// Never logged, never printed.
        code: SecretString,
    },
}

/// What [`Credentials::name`] says for a login by authentication code, which names no account.
pub const CODE_LOGIN_NAME: &str = "(authentication code)";

/// A complete, checked login request.
#[derive(Debug)]
pub struct Credentials {
    /// Who and with what.
    pub secret: Secret,
    /// Seed 003's organisation, when given.
    pub organisation: Option<String>,
    /// Seed 003's unit, when given.
    pub unit: Option<String>,
    /// The one-time password (a TOTP code or a recovery code), when given: the
    /// `One-Time-Password` header, the JSON or form field `otp`. Never logged.
    pub otp: Option<SecretString>,
}

impl Credentials {
    /// The account name as the client gave it, for logs ([`CODE_LOGIN_NAME`] for a login by
    /// authentication code).
    pub fn name(&self) -> &str {
        match &self.secret {
            Secret::User { name, .. } => name,
            Secret::Service { identifier, .. } => identifier,
            Secret::Code { .. } => CODE_LOGIN_NAME,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret() {
        let user = Credentials {
            secret: Secret::User {
                name: "alice".into(),
                password: SecretString::from("hunter2-correct-horse"),
            },
            organisation: Some("acme".into()),
            unit: None,
            otp: Some(SecretString::from("739184")),
        };
        let service = Credentials {
            secret: Secret::Service {
                identifier: "svc".into(),
                pass_code: SecretString::from("pass-code-31337"),
            },
            organisation: None,
            unit: None,
            otp: None,
        };
        let code = Credentials {
            secret: Secret::Code {
                code: SecretString::from("api-key-4711"),
            },
            organisation: None,
            unit: None,
            otp: None,
        };
        let shown = format!("{user:?} {service:?} {user:#?} {code:?}");
        assert!(shown.contains("alice") && shown.contains("svc"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("31337"), "{shown}");
        assert!(!shown.contains("4711"), "{shown}");
        assert!(!shown.contains("739184"), "{shown}");
    }
}
