//! Reading a new password or pass code, the same way for `hash-password` and `users`: from
//! stdin when it is piped (one trailing newline dropped), otherwise prompted twice without
//! echo; then the login limits are checked, so a secret that could never log in is refused.

use std::io::{IsTerminal, Read};

use secrecy::{ExposeSecret, SecretString};

use crate::login::password::MAX_PASSWORD_BYTES;

/// Why no secret was read.
#[derive(Debug, thiserror::Error)]
pub enum SecretInputError {
    /// stdin or the terminal could not be read.
    #[error("cannot read the {what} from {from}")]
    Read {
        /// "password" or "pass code".
        what: &'static str,
        /// "stdin" or "the terminal".
        from: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The two prompts got different answers.
    #[error("the two {what}s differ")]
    Mismatch {
        /// "password" or "pass code".
        what: &'static str,
    },
    /// Read, but it cannot log in.
    #[error("the {what} is {why}")]
    Unusable {
        /// "password" or "pass code".
        what: &'static str,
        /// "empty", "longer than …".
        why: String,
    },
}

/// Read a new `what` ("password" or "pass code") and check it against the login limits.
pub fn read_new_secret(what: &'static str) -> Result<SecretString, SecretInputError> {
    let secret = if std::io::stdin().is_terminal() {
        let read = |prompt: String| {
            rpassword::prompt_password(prompt)
                .map(SecretString::from)
                .map_err(|source| SecretInputError::Read {
                    what,
                    from: "the terminal",
                    source,
                })
        };
        let first = read(format!("{}: ", capitalised(what)))?;
        let again = read(format!("{} again: ", capitalised(what)))?;
        if first.expose_secret() != again.expose_secret() {
            return Err(SecretInputError::Mismatch { what });
        }
        first
    } else {
        let mut input = String::new();
        let read = std::io::stdin().read_to_string(&mut input);
        let input = SecretString::from(input);
        read.map_err(|source| SecretInputError::Read {
            what,
            from: "stdin",
            source,
        })?;
        let text = input.expose_secret();
        let trimmed = text
            .strip_suffix('\n')
            .map(|s| s.strip_suffix('\r').unwrap_or(s))
            .unwrap_or(text);
        SecretString::from(trimmed.to_owned())
    };
    let text = secret.expose_secret();
    if text.is_empty() {
        return Err(SecretInputError::Unusable {
            what,
            why: "empty".into(),
        });
    }
    if text.len() > MAX_PASSWORD_BYTES {
        return Err(SecretInputError::Unusable {
            what,
            why: format!("longer than {MAX_PASSWORD_BYTES} bytes, the login limit"),
        });
    }
    if text.trim() != text {
        eprintln!(
            "warning: the {what} starts or ends with whitespace; HTTP drops it from header \
             values, so this {what} cannot log in through the headers"
        );
    }
    Ok(secret)
}

fn capitalised(what: &str) -> String {
    let mut chars = what.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
