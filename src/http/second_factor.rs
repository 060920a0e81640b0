//! The second step of a person's login, after argon2 said yes: the one-time password of an
//! account with TOTP on, or the refusal of an account whose role requires TOTP and that has
//! none. Each endpoint turns the refusals into its own answers (`/login`: 401 "One-time
//! password required." / 403; `/token`: `invalid_grant`).

use secrecy::{ExposeSecret, SecretString};

use super::state::{AppState, Loaded};
use crate::database::QueryError;
use crate::login::totp::code::current_step;
use crate::login::totp::store::TotpDb;
use crate::login::totp::{CheckError, Verdict};
use crate::login::users::User;

/// Why the second factor refused a login whose password was right.
#[derive(Debug)]
pub(super) enum Denied {
    /// TOTP is on and no one-time password came.
    OtpRequired,
    /// The account's role requires TOTP, and it has none.
    EnrolmentRequired,
    /// A wrong, replayed or used one-time password: the answer of a wrong password.
    Wrong,
    /// The database could not be reached: nothing was judged.
    StoreUnavailable(String),
    /// The code could not be judged (no key, a secret that does not open).
    Internal(CheckError),
}

/// Judge the second factor of `user`, whose password was right: `Ok(true)` when a one-time
/// password was accepted (the token's `amr` says so), `Ok(false)` when the account has no
/// TOTP and needs none.
pub(super) async fn second_factor(
    state: &AppState,
    loaded: &Loaded,
    user: &User,
    otp: Option<&SecretString>,
) -> Result<bool, Denied> {
    let count = |result: &str| state.metrics.totp.with_label_values(&[result]).inc();
    let Some(totp) = user.totp.as_ref().filter(|_| !user.service) else {
        if !user.service && loaded.totp.required_for(&user.roles) {
            count("enrolment_required");
            return Err(Denied::EnrolmentRequired);
        }
        return Ok(false);
    };
    let Some(otp) = otp else {
        count("missing");
        return Err(Denied::OtpRequired);
    };
    let Some(db) = loaded.users.database() else {
        // Only the database store reads TOTP state; the start refuses TOTP with the file.
        return Err(Denied::Wrong);
    };
    let db = TotpDb::new(db.database().clone());
    match loaded
        .totp
        .check(&db, &user.name, totp, otp, current_step())
        .await
    {
        Ok(verdict) => {
            count(verdict.label());
            match verdict {
                Verdict::Accepted | Verdict::Recovery => Ok(true),
                Verdict::Replayed | Verdict::Wrong => Err(Denied::Wrong),
            }
        }
        Err(CheckError::Query(QueryError::Unavailable(cause))) => {
            if let Some(users) = loaded.users.database() {
                state.user_store.unreachable(users.database());
            }
            Err(Denied::StoreUnavailable(cause))
        }
        Err(e) => Err(Denied::Internal(e)),
    }
}

/// `totp.password_suffix`: `password:123456` split at its last colon into the password and
/// the one-time password, when both halves are non-empty.
pub(super) fn split_suffix(password: &SecretString) -> Option<(SecretString, SecretString)> {
    let (pw, otp) = password.expose_secret().rsplit_once(':')?;
    (!pw.is_empty() && !otp.is_empty()).then(|| (pw.into(), otp.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suffix_is_what_follows_the_last_colon() {
        let split = |p: &str| {
            split_suffix(&p.into())
                .map(|(a, b)| (a.expose_secret().to_owned(), b.expose_secret().to_owned()))
        };
        assert_eq!(split("pw:123456"), Some(("pw".into(), "123456".into())));
        assert_eq!(split("a:b:123456"), Some(("a:b".into(), "123456".into())));
        assert_eq!(split("pw"), None);
        assert_eq!(split("pw:"), None);
        assert_eq!(split(":123456"), None);
    }
}
