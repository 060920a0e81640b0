//! The `watchword` command: serve, hash-password, keygen, verify.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use watchword::config::{Settings, SigningAlgorithm};
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config),
        Command::HashPassword => hash_password(cli.config),
        Command::Keygen { alg, out } => keygen(&alg, &out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Option<PathBuf>) -> Result<(), String> {
    let settings = Settings::load(config.as_deref()).map_err(|e| e.to_string())?;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(&settings).map_err(|e| e.to_string())?;
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

fn hash_password(config: Option<PathBuf>) -> Result<(), String> {
    let settings = Settings::load(config.as_deref()).map_err(|e| e.to_string())?;
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?
    } else {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input).map_err(|e| format!("reading stdin: {e}"))?;
        let trimmed = input.strip_suffix('\n').map(|s| s.strip_suffix('\r').unwrap_or(s));
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
