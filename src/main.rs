//! The `watchword` command: serve, hash-password, keygen, verify.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use watchword::config::{LogFormat, Settings, SigningAlgorithm};
use watchword::startup::Application;

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
    /// Write a new private key (PKCS#8 PEM, mode 0600) for keys.signing_key_file.
    Keygen {
        /// EdDSA, ES256, RS256 (or HS256 for a shared secret).
        #[arg(long, default_value = "EdDSA")]
        alg: String,
        /// Output file; refused if it exists.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a token as a sibling service would; prints its claims as JSON or the reason.
    Verify(VerifyArgs),
    /// Exit 0 when the local service answers /healthz, else 1 (the image's HEALTHCHECK).
    Healthcheck,
}

#[derive(clap::Args)]
#[group(id = "keys", required = true, multiple = false)]
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if !matches!(command, Command::Serve) {
        init_logging(LogFormat::Text);
    }
    let result = match command {
        Command::Serve => serve(cli.config),
        Command::HashPassword => hash_password(cli.config),
        Command::Keygen { alg, out } => keygen(&alg, &out),
        Command::Verify(args) => verify(args),
        Command::Healthcheck => healthcheck(cli.config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
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
    builder.init();
}

fn serve(config: Option<PathBuf>) -> Result<(), String> {
    let settings = Settings::load(config.as_deref()).map_err(|e| e.to_string())?;
    init_logging(settings.log_format);
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build_with_config(&settings, config.as_deref())
            .map_err(|e| e.to_string())?;
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

fn hash_password(config: Option<PathBuf>) -> Result<(), String> {
    let settings = Settings::load(config.as_deref()).map_err(|e| e.to_string())?;
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?
    } else {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| format!("reading stdin: {e}"))?;
        let trimmed = input
            .strip_suffix('\n')
            .map(|s| s.strip_suffix('\r').unwrap_or(s));
        trimmed.unwrap_or(&input).to_owned()
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    if password.len() > watchword::http::login::MAX_PASSWORD_BYTES {
        return Err("the password is longer than 1024 bytes, the login limit".into());
    }
    if password.trim() != password {
        eprintln!(
            "warning: the password starts or ends with whitespace; HTTP drops it from header \
             values, so this password cannot log in through the User-Name/Password headers"
        );
    }
    let phc = watchword::password::hash_password(&password, &settings.password.params)
        .map_err(|e| format!("hashing failed: {e}"))?;
    println!("{phc}");
    Ok(())
}

fn keygen(alg: &str, out: &std::path::Path) -> Result<(), String> {
    let alg: SigningAlgorithm = alg.parse().map_err(|m| format!("--alg: {m}"))?;
    watchword::keys::write_new_key(out, alg).map_err(|e| e.to_string())?;
    eprintln!("wrote a new {} key to {}", alg.as_str(), out.display());
    Ok(())
}

fn verify(args: VerifyArgs) -> Result<(), String> {
    use watchword::verify::{Validation, Verifier};
    let validation = Validation {
        issuer: args.issuer.clone(),
        audience: args.audience.clone(),
        ..Validation::default()
    };
    let token = if args.token == "-" {
        let mut t = String::new();
        std::io::stdin()
            .read_to_string(&mut t)
            .map_err(|e| format!("reading stdin: {e}"))?;
        t.trim().to_owned()
    } else {
        args.token.clone()
    };
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let verifier = if let Some(jwks) = &args.jwks {
        if jwks.starts_with("http://") || jwks.starts_with("https://") {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
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
        return Err("one of --jwks, --key or --secret-file is required".into());
    }
    .map_err(|e| format!("keys: {e}"))?;
    let claims = verifier
        .verify(&token)
        .map_err(|e| format!("token rejected ({}): {e}", e.reason()))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&claims).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// A plain HTTP/1.1 GET over a socket: the runtime image has no curl, and this needs no TLS.
fn healthcheck(config: Option<PathBuf>) -> Result<(), String> {
    use std::io::Write;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
    use std::time::Duration;

    let settings = Settings::load(config.as_deref()).map_err(|e| e.to_string())?;
    let mut addr = settings.server.bind;
    if addr.ip().is_unspecified() {
        let local = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        addr = SocketAddr::new(local, addr.port());
    }
    let timeout = Duration::from_secs(2);
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .map_err(|e| format!("{addr}: {e}"))?;
    if head.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!(
            "{addr}: /healthz answered {:?}",
            String::from_utf8_lossy(&head)
        ))
    }
}
