//! `watchword users totp enroll|disable|recovery NAME`: TOTP for a person of the database
//! store, by an operator.
//!
//! `enroll` prints the `otpauth://` URI and its QR code, then reads one code (from a terminal
//! or a pipe): TOTP is turned on only when the code is right, and that code's step counts as
//! used, so it cannot also be the first login's code.

use std::io::{BufRead, Read};

use clap::Subcommand;
use secrecy::SecretSlice;

use crate::config::Settings;
use crate::database::{Database, QueryError};
use crate::login::totp::key::{new_recovery_codes, TotpKey};
use crate::login::totp::store::TotpDb;
use crate::login::totp::{confirming_step, new_secret, SecondFactor, MAX_OTP_BYTES};
use crate::login::users::canonical_name;
use crate::login::users::database::{describe, UserDb};
use crate::token::key_file::check_key_file;

/// Why a `users totp` command failed.
#[derive(Debug, thiserror::Error)]
pub enum TotpCommandError {
    /// Wrong use: no key configured, a key that cannot be used (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The account is not as the command needs it, or the code was wrong (exit 1).
    #[error("{0}")]
    Account(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
}

type Result<T, E = TotpCommandError> = std::result::Result<T, E>;

/// `watchword users totp …`
#[derive(Subcommand)]
pub enum TotpCommand {
    /// Turn TOTP on: prints the otpauth:// URI and a QR code, then reads one code from
    /// standard input; a wrong code leaves TOTP off (exit 1).
    Enroll {
        /// The user name.
        name: String,
    },
    /// Turn TOTP off (its recovery codes go too).
    Disable {
        /// The user name.
        name: String,
    },
    /// Make 10 new recovery codes (the old ones stop working) and print them, once.
    Recovery {
        /// The user name.
        name: String,
    },
}

impl TotpCommand {
    /// The account name in NFC, as accounts are stored.
    pub(super) fn canonicalize(&mut self) {
        match self {
            TotpCommand::Enroll { name }
            | TotpCommand::Disable { name }
            | TotpCommand::Recovery { name } => *name = canonical_name(name),
        }
    }
}

/// Run a `users totp` subcommand on `store` (the database store, schema checked).
pub fn run(settings: &Settings, store: &UserDb, command: TotpCommand) -> Result<()> {
    let account = |m: String| TotpCommandError::Account(m);
    let name = match &command {
        TotpCommand::Enroll { name }
        | TotpCommand::Disable { name }
        | TotpCommand::Recovery { name } => name.clone(),
    };
    if store.get(false, &name)?.is_none() {
        return Err(account(format!(
            "{} does not exist",
            describe(false, &name)
        )));
    }
    let db = TotpDb::new(store.database().clone());
    let on = blocking(store.database(), {
        let (db, name) = (db.clone(), name.clone());
        async move { db.get(&name).await }
    })?
    .is_some();
    match command {
        TotpCommand::Disable { .. } => {
            let done = blocking(store.database(), {
                let (db, name) = (db.clone(), name.clone());
                async move { db.disable(&name).await }
            })?;
            if !done {
                return Err(account(format!(
                    "TOTP is off for {}",
                    describe(false, &name)
                )));
            }
            eprintln!("TOTP turned off for {}", describe(false, &name));
        }
        TotpCommand::Enroll { .. } => {
            if on {
                return Err(account(format!(
                    "TOTP is on already for {}; `watchword users totp disable {name}` first",
                    describe(false, &name)
                )));
            }
            let key = key(settings)?;
            let secret = new_secret().map_err(|e| account(e.to_string()))?;
            let factor = SecondFactor {
                key: None,
                old_keys: Vec::new(),
                settings: settings.totp.clone(),
            };
            let uri = factor.otpauth_uri(&name, &secret);
            println!("{uri}");
            println!("{}", qr(&uri));
            eprintln!("enter the code the app shows for {name}:");
            let Some(step) = read_code(&secret)? else {
                return Err(account(format!(
                    "wrong code: TOTP stays off for {}",
                    describe(false, &name)
                )));
            };
            let sealed = key
                .seal_secret(&name, &secret)
                .map_err(|e| account(e.to_string()))?;
            if !db.enable_blocking(&name, &sealed, step)? {
                return Err(account(format!(
                    "TOTP is on already for {}",
                    describe(false, &name)
                )));
            }
            eprintln!(
                "TOTP turned on for {}; make recovery codes with `watchword users totp recovery {name}`",
                describe(false, &name)
            );
        }
        TotpCommand::Recovery { .. } => {
            if !on {
                return Err(account(format!(
                    "TOTP is off for {}; `watchword users totp enroll {name}` first",
                    describe(false, &name)
                )));
            }
            let key = key(settings)?;
            let codes = new_recovery_codes().map_err(|e| account(e.to_string()))?;
            let hashes = codes.iter().map(|c| key.recovery_hash(&name, c)).collect();
            let stored = blocking(store.database(), {
                let (db, name) = (db.clone(), name.clone());
                async move { db.replace_recovery_codes(&name, hashes).await }
            })?;
            if !stored {
                return Err(account(format!(
                    "TOTP is off for {}",
                    describe(false, &name)
                )));
            }
            for code in &codes {
                println!("{code}");
            }
            eprintln!(
                "10 new recovery codes for {}, each usable once instead of a code; they are \
                 shown only now",
                describe(false, &name)
            );
        }
    }
    Ok(())
}

/// The key of `keys.totp_key_file`, or the usage error naming it.
fn key(settings: &Settings) -> Result<TotpKey> {
    let Some(path) = &settings.keys.totp_key_file else {
        return Err(TotpCommandError::Usage(
            "keys.totp_key_file is not set: make a key with `watchword keygen --kind totp --out \
             FILE` and set keys.totp_key_file to it"
                .into(),
        ));
    };
    check_key_file(
        path,
        "keys.totp_key_file",
        settings.keys.allow_world_readable,
    )
    .map_err(|e| TotpCommandError::Usage(e.to_string()))?;
    TotpKey::from_file(path).map_err(|e| TotpCommandError::Usage(e.to_string()))
}

/// One line from standard input: the step whose code it is, `None` when it is no code of the
/// window.
fn read_code(secret: &SecretSlice<u8>) -> Result<Option<u64>> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(MAX_OTP_BYTES as u64 + 2)
        .read_line(&mut line)
        .map_err(|e| TotpCommandError::Account(format!("cannot read the code: {e}")))?;
    Ok(confirming_step(secret, line.trim()))
}

/// The URI as a QR code of Unicode half blocks, dark on a light terminal or light on dark.
fn qr(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build(),
        Err(e) => format!("(no QR code: {e}; enter the URI's secret by hand)"),
    }
}

/// Run a store call from this synchronous command.
fn blocking<T: Send + 'static>(
    db: &Database,
    f: impl std::future::Future<Output = Result<T, QueryError>> + Send + 'static,
) -> Result<T> {
    Ok(db.run_blocking(move |_| async move { Ok(f.await) })??)
}
