//! The `watchword` command: serve, hash-password, keygen, verify, healthcheck, migrate and
//! users ([`users_command`]).
//!
//! Every command returns a [`CliError`]; [`main`] prints it with its causes, one
//! `caused by:` line each (as ripgrep does), so an operator sees the OS error behind
//! "cannot read the key" without a debug build.

mod logger;
pub mod secret_input;
pub mod totp_command;
pub mod users_command;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::config::{ConfigError, LogFormat, Settings};
use crate::error_chain::error_chain;
use crate::login::password::hash_password;
use crate::login::totp::key::{write_new_key as write_new_totp_key, TotpKeyError};
use crate::startup::{Application, StartError};
use crate::token::algorithm::SigningAlgorithm;
use crate::token::signing_key::{write_new_key, SigningKeyError};
use secret_input::{read_new_secret, SecretInputError};
use users_command::{UsersArgs, UsersCommandError};
use watchword_verify::{KeyError, Validation, Verifier, VerifyError};

/// Why a command failed. The `Display` text is the first line of the message; the causes
/// follow from [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration is wrong (the message names the key).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `serve` could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The server stopped with an I/O error.
    #[error("the server stopped")]
    Serve(#[source] std::io::Error),
    /// Reading standard input or a file given on the command line failed.
    #[error("cannot read {what}")]
    Read {
        /// stdin or the path.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The input was read but cannot be used (an empty or oversized password, …).
    #[error("{0}")]
    Input(String),
    /// argon2 refused the parameters or the password.
    #[error("hashing failed")]
    Hash(#[source] argon2::password_hash::Error),
    /// `keygen` failed.
    #[error(transparent)]
    Key(#[from] SigningKeyError),
    /// `keygen --kind totp` failed.
    #[error(transparent)]
    TotpKey(#[from] TotpKeyError),
    /// `verify` could not build its verifier from the given keys.
    #[error("the keys cannot be used")]
    VerifierKeys(#[source] KeyError),
    /// `verify`: the token was refused.
    #[error("token rejected ({})", .0.reason())]
    Rejected(#[source] VerifyError),
    /// No password was read (or it cannot log in).
    #[error(transparent)]
    Secret(#[from] SecretInputError),
    /// `migrate` or `users` failed (exit 2 for usage errors, else 1).
    #[error(transparent)]
    Users(#[from] UsersCommandError),
    /// `healthcheck`: the service did not answer, or not with 200.
    #[error("healthcheck of {addr} failed: {why}")]
    Unhealthy {
        /// The address asked.
        addr: SocketAddr,
        /// What happened.
        why: String,
    },
}

/// A stateless login service: User-Name and Password headers in, a signed JWT out.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML), layered over the built-in defaults and under WATCHWORD__* variables.
    #[arg(long, global = true, env = "WATCHWORD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Hash a password for the users file (from stdin when piped, else prompted without echo).
    HashPassword,
    /// Write a new key (mode 0600): a private key (PKCS#8 PEM) for keys.signing_key_file, or
    /// with --kind totp the AES-256 key for keys.totp_key_file.
    Keygen {
        /// EdDSA, ES256, RS256 (or HS256 for a shared secret); for --kind signing.
        #[arg(long, default_value = "EdDSA")]
        alg: String,
        /// signing (a token signing key) or totp (the key sealing TOTP secrets).
        #[arg(long, default_value = "signing", value_parser = ["signing", "totp"])]
        kind: String,
        /// Output file; refused if it exists.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a token as a sibling service would; prints its claims as JSON or the reason.
    Verify(VerifyArgs),
    /// Exit 0 when the local service answers /healthz, else 1 (the image's HEALTHCHECK).
    Healthcheck,
    /// Apply the embedded schema migrations to the database of [database].
    Migrate,
    /// Manage the accounts of the database store (users.store = "database").
    Users(UsersArgs),
}

#[derive(clap::Args)]
// The group names only the three key options: a struct-level `#[group]` would hold every
// field, TOKEN included, and then refuse `--jwks URL TOKEN` as two members of one group.
#[group(skip)]
#[command(group(clap::ArgGroup::new("keys").required(true).multiple(false)))]
struct VerifyArgs {
    /// JWK Set: a file, a JWKS URL or the login service's discovery URL.
    #[arg(long, group = "keys")]
    jwks: Option<String>,
    /// Public key PEM file (Ed25519, P-256 or RSA).
    #[arg(long, group = "keys")]
    key: Option<PathBuf>,
    /// File holding the HS256 secret.
    #[arg(long, group = "keys")]
    secret_file: Option<PathBuf>,
    /// Required `iss`.
    #[arg(long)]
    issuer: Option<String>,
    /// Accepted `aud` values (repeat the flag for several).
    #[arg(long)]
    audience: Vec<String>,
    /// The token (or `-` to read it from stdin).
    token: String,
}

/// Parse the command line, run the command, print a failure with its causes (exit 1).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if !matches!(command, Command::Serve) {
        init_logging(LogFormat::Text);
    }
    let result = match command {
        Command::Serve => serve(cli.config),
        Command::HashPassword => hash_password_command(cli.config),
        Command::Keygen { alg, kind, out } if kind == "totp" => keygen_totp(&alg, &out),
        Command::Keygen { alg, out, .. } => keygen(&alg, &out),
        Command::Verify(args) => verify(args),
        Command::Healthcheck => healthcheck(cli.config),
        Command::Migrate => users_command::migrate(cli.config.as_deref()).map_err(CliError::from),
        Command::Users(args) => {
            users_command::run(cli.config.as_deref(), args).map_err(CliError::from)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            match &error {
                CliError::Users(e) => ExitCode::from(e.exit_code()),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// env_logger with `RUST_LOG` (default info), as text or one JSON object per line.
fn init_logging(format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(|buf, record| {
            use std::io::Write;
            let line = serde_json::json!({
                "ts": buf.timestamp_millis().to_string(),
                "level": record.level().as_str(),
                "target": record.target(),
                "msg": record.args().to_string(),
            });
            writeln!(buf, "{line}")
        });
    }
    logger::install(builder.build());
}

fn serve(config: Option<PathBuf>) -> Result<(), CliError> {
    let settings = Settings::load(config.as_deref())?;
    init_logging(settings.log_format);
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build_with_config(&settings, config.as_deref())?;
        app.run_until_stopped().await.map_err(CliError::Serve)
    })
}

fn hash_password_command(config: Option<PathBuf>) -> Result<(), CliError> {
    let settings = Settings::load(config.as_deref())?;
    let password = read_new_secret("password")?;
    let password = password.expose_secret();
    let phc = hash_password(password, &settings.password.params).map_err(CliError::Hash)?;
    println!("{phc}");
    Ok(())
}

fn keygen(alg: &str, out: &Path) -> Result<(), CliError> {
    let alg: SigningAlgorithm = alg
        .parse()
        .map_err(|m| CliError::Input(format!("--alg: {m}")))?;
    write_new_key(out, alg)?;
    eprintln!("wrote a new {} key to {}", alg.as_str(), out.display());
    Ok(())
}

fn keygen_totp(alg: &str, out: &Path) -> Result<(), CliError> {
    if alg != "EdDSA" {
        return Err(CliError::Input(
            "--alg is for signing keys; a TOTP key is always AES-256-GCM".into(),
        ));
    }
    write_new_totp_key(out)?;
    eprintln!(
        "wrote a new TOTP key to {} (set keys.totp_key_file to it)",
        out.display()
    );
    Ok(())
}

fn verify(args: VerifyArgs) -> Result<(), CliError> {
    let validation = Validation {
        issuer: args.issuer.clone(),
        audience: args.audience.clone(),
        ..Validation::default()
    };
    let token = if args.token == "-" {
        let mut t = String::new();
        std::io::stdin()
            .read_to_string(&mut t)
            .map_err(|source| CliError::Read {
                what: "stdin".into(),
                source,
            })?;
        t.trim().to_owned()
    } else {
        args.token.clone()
    };
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| CliError::Read {
            what: p.display().to_string(),
            source,
        })
    };
    let verifier = if let Some(jwks) = &args.jwks {
        if jwks.starts_with("http://") || jwks.starts_with("https://") {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(CliError::Serve)?;
            rt.block_on(Verifier::from_url(jwks, validation, Default::default()))
        } else {
            Verifier::from_jwks_file(jwks, validation)
        }
    } else if let Some(key) = &args.key {
        Verifier::from_public_pem(&read(key)?, validation)
    } else if let Some(secret) = &args.secret_file {
        let mut bytes = read(secret)?;
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        Verifier::from_hs256_secret(&bytes, validation)
    } else {
        return Err(CliError::Input(
            "one of --jwks, --key or --secret-file is required".into(),
        ));
    }
    .map_err(CliError::VerifierKeys)?;
    let claims = verifier.verify(&token).map_err(CliError::Rejected)?;
    // Claims are strings, numbers and JSON values: serializing them cannot fail.
    println!(
        "{}",
        serde_json::to_string_pretty(&claims).unwrap_or_default()
    );
    Ok(())
}

/// A plain HTTP/1.1 GET over a socket: the runtime image has no curl, and this needs no TLS.
fn healthcheck(config: Option<PathBuf>) -> Result<(), CliError> {
    use std::io::Write;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream};
    use std::time::Duration;

    let settings = Settings::load(config.as_deref())?;
    let mut addr = settings.server.bind;
    if addr.ip().is_unspecified() {
        let local = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        addr = SocketAddr::new(local, addr.port());
    }
    let unhealthy = |why: String| CliError::Unhealthy { addr, why };
    let timeout = Duration::from_secs(2);
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| unhealthy(e.to_string()))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| unhealthy(e.to_string()))?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| unhealthy(e.to_string()))?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .map_err(|e| unhealthy(e.to_string()))?;
    if head.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(unhealthy(format!(
            "/healthz answered {:?}",
            String::from_utf8_lossy(&head)
        )))
    }
}
