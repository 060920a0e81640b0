//! `watchword migrate` and `watchword users …`: the database store's schema and accounts,
//! with the same configuration (and `--config`) as `serve`. With `users.store = "ldap"` the
//! directory is the source of truth: `users check NAME` shows what a login would see, and the
//! writing commands say where to make the change instead.
//!
//! Exit codes: 0 done; 1 the command could not be carried out (an account that exists on
//! `add`, an unknown one elsewhere, a database error), the message naming the account; 2 a
//! usage error (clap's own, a bad option value, a writing command on the file store).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value};

use super::secret_input::{read_new_secret, SecretInputError};
use super::totp_command::{self, TotpCommand, TotpCommandError};
use crate::config::{ConfigError, Settings, UserStoreKind};
use crate::database::{Database, DatabaseError, QueryError};
use crate::login::password::{hash_password, StoredHash};
use crate::login::users::account::check_name;
use crate::login::users::database::{describe, Columns, ImportError, UserDb};
use crate::login::users::ldap::{Directory, DirectoryError};
use crate::login::users::{canonical_name, look_alike, User, Users, UsersError};
use crate::session::revocations::{end_account_blocking, subject_lifetime};
use watchword_verify::{is_reserved_claim, RESERVED_CLAIMS};

/// Why a `users` or `migrate` command failed.
#[derive(Debug, thiserror::Error)]
pub enum UsersCommandError {
    /// Wrong use: a bad option value, or a writing command on the file store (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The account is not as the command needs it (exit 1).
    #[error("{0}")]
    Account(String),
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database cannot be opened or its schema is not this binary's.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The users file (of `users.file` or `users import FILE`) is wrong.
    #[error(transparent)]
    File(#[from] UsersError),
    /// No password or pass code was read.
    #[error(transparent)]
    Secret(#[from] SecretInputError),
    /// The LDAP directory could not answer `users check NAME`.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// A `users totp` command failed.
    #[error(transparent)]
    Totp(#[from] TotpCommandError),
    /// argon2 refused the parameters.
    #[error("hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
}

impl UsersCommandError {
    /// 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            UsersCommandError::Usage(_) | UsersCommandError::Totp(TotpCommandError::Usage(_)) => 2,
            _ => 1,
        }
    }
}

type Result<T, E = UsersCommandError> = std::result::Result<T, E>;

/// `watchword users …`
#[derive(Args)]
pub struct UsersArgs {
    /// Act on a service account (identifier and pass code) instead of a person.
    #[arg(long, global = true)]
    service: bool,
    #[command(subcommand)]
    command: UsersCommand,
}

/// The account fields `add` sets and `update` changes.
#[derive(Args, Default)]
struct Fields {
    /// A role for the `roles` claim (repeat for several; on update, replaces the roles).
    #[arg(long = "role", value_name = "ROLE")]
    roles: Option<Vec<String>>,
    /// An extra token claim, KEY=JSON, e.g. dept='"ops"' or level=3 (repeat; on update,
    /// replaces the claims).
    #[arg(long = "claim", value_name = "KEY=JSON")]
    claims: Option<Vec<String>>,
    /// An organisation the account may log in to (repeat; on update, replaces the list).
    #[arg(long = "organisation", value_name = "ORGANISATION")]
    organisations: Option<Vec<String>>,
    /// A unit within them (repeat; on update, replaces the list). Not for service accounts.
    #[arg(long = "unit", value_name = "UNIT")]
    units: Option<Vec<String>>,
    /// Stable id, a UUID (the `uid` claim). Not for service accounts.
    #[arg(long, value_name = "UUID")]
    id: Option<String>,
    /// The account starts (add) or becomes (update) disabled.
    #[arg(long)]
    disabled: bool,
}

/// A list or value `update --clear` empties.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Clear {
    Roles,
    Claims,
    Organisations,
    Units,
    Id,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add an account; its password (pass code) is read like hash-password reads it.
    Add {
        /// The user name (or service identifier).
        name: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Change an account's roles, claims, organisations, units, id or disabled flag.
    Update {
        /// The user name (or service identifier).
        name: String,
        #[command(flatten)]
        fields: Fields,
        /// Empty this list (or the id); repeat for several.
        #[arg(long, value_enum, value_name = "FIELD")]
        clear: Vec<Clear>,
    },
    /// Set a new password (pass code), read like hash-password reads it.
    Passwd {
        /// The user name (or service identifier).
        name: String,
    },
    /// Disable an account: its logins get the uniform 401.
    Disable {
        /// The user name (or service identifier).
        name: String,
    },
    /// Enable a disabled account.
    Enable {
        /// The user name (or service identifier).
        name: String,
    },
    /// Delete an account.
    Remove {
        /// The user name (or service identifier).
        name: String,
    },
    /// End every session and access token of an account (needs sessions.enabled): its refresh
    /// tokens are refused at once, its access tokens within sessions.revocation_poll.
    Logout {
        /// The user name (or service identifier).
        name: String,
    },
    /// List accounts: name, kind, roles, disabled, id, organisations, units (never a hash).
    List {
        /// One JSON array of objects instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Import a users file (people and service accounts) in one transaction.
    Import {
        /// A users file in the format of users.file.
        file: PathBuf,
        /// Overwrite accounts that exist; without it an existing name fails the import.
        #[arg(long)]
        replace: bool,
    },
    /// List accounts whose hash is weaker than password.* (file and database stores); with
    /// NAME, show that account as a login sees it (with users.store = "ldap": the entry, its
    /// groups and the roles and claims a token would carry, asked of the directory).
    Check {
        /// One account to show (a person; a service account with --service).
        name: Option<String>,
    },
    /// TOTP of a person: enroll, disable, recovery (needs keys.totp_key_file).
    #[command(subcommand)]
    Totp(TotpCommand),
}

impl UsersCommand {
    /// The account name as accounts are stored: NFC ([`canonical_name`]), so a name typed
    /// with combining accents finds (or adds) the same account a login finds.
    fn canonicalize(&mut self) {
        match self {
            UsersCommand::Add { name, .. }
            | UsersCommand::Update { name, .. }
            | UsersCommand::Passwd { name }
            | UsersCommand::Disable { name }
            | UsersCommand::Enable { name }
            | UsersCommand::Remove { name }
            | UsersCommand::Logout { name } => *name = canonical_name(name),
            UsersCommand::Check { name: Some(name) } => *name = canonical_name(name),
            UsersCommand::Totp(command) => command.canonicalize(),
            UsersCommand::List { .. }
            | UsersCommand::Import { .. }
            | UsersCommand::Check { name: None } => {}
        }
    }
}

/// `watchword migrate`: apply the embedded migrations to `[database]` (nothing to do when no
/// database is configured and the users are in the file).
pub fn migrate(config: Option<&Path>) -> Result<()> {
    let settings = Settings::load(config)?;
    if settings.database.url.is_none() && settings.users.store != UserStoreKind::Database {
        // Nothing uses a database: a migration step (a Kubernetes init container) may run
        // the same way whichever store is configured.
        println!(
            "no database is configured (users.store is not \"database\", no database.url): nothing to do"
        );
        return Ok(());
    }
    let db = Database::open(&settings.database)?;
    let (was, now) = db.prepare(true)?;
    if was == now {
        println!(
            "{} schema is at version {now}, nothing to do",
            db.kind().name()
        );
    } else {
        println!(
            "{} schema migrated from version {was} to {now}",
            db.kind().name()
        );
    }
    Ok(())
}

/// The database store of the configuration, with its schema checked (not migrated).
fn open_store(settings: &Settings, command: &str) -> Result<UserDb> {
    if settings.users.store == UserStoreKind::Ldap {
        return Err(directory_is_the_source(command));
    }
    if settings.users.store == UserStoreKind::File {
        return Err(UsersCommandError::Usage(format!(
            "users.store is \"file\": `watchword users {command}` writes only to the database \
             store; edit the users file (users.file) and reload with SIGHUP, or set \
             users.store = \"database\""
        )));
    }
    let db = Database::open(&settings.database)?;
    db.prepare(false)?;
    Ok(UserDb::new(db))
}

/// What the writing commands (and `list`) say with `users.store = "ldap"`.
fn directory_is_the_source(command: &str) -> UsersCommandError {
    UsersCommandError::Usage(format!(
        "users.store is \"ldap\": the directory is the source of truth and watchword only \
         reads it, so `watchword users {command}` has nothing to act on. Add, change, disable \
         and remove people (and their passwords and groups) in the directory itself; \
         `watchword users check NAME` shows what a login sees"
    ))
}

/// `users check NAME` with `users.store = "ldap"`: the person as the directory gives them,
/// as one JSON object on stdout (never a password; none is asked).
fn check_in_directory(settings: &Settings, name: &str) -> Result<()> {
    let ldap = settings
        .ldap
        .clone()
        .ok_or_else(|| UsersCommandError::Usage("[ldap] is not set".into()))?;
    let directory = Directory::new(ldap);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| UsersCommandError::Account(format!("cannot start a runtime: {e}")))?;
    let found = runtime.block_on(directory.find(name))?.ok_or_else(|| {
        UsersCommandError::Account(format!(
            "{name:?} is not in the directory: ldap.user_filter under ldap.user_base finds no \
             entry for it, or more than one (its logins get the uniform 401)"
        ))
    })?;
    let u = &found.user;
    println!(
        "{}",
        serde_json::json!({
            "dn": found.dn,
            "sub": u.name,
            "uid": u.id,
            "groups": found.groups,
            "roles": u.roles,
            "claims": u.claims,
            "organisations": u.organisations,
            "units": u.units,
        })
    );
    Ok(())
}

/// Every account of the configured store, for `list` and `check`.
fn all_accounts(settings: &Settings) -> Result<Vec<User>> {
    match settings.users.store {
        UserStoreKind::Ldap => Err(directory_is_the_source("list")),
        UserStoreKind::Database => {
            let db = Database::open(&settings.database)?;
            db.prepare(false)?;
            Ok(UserDb::new(db).list()?)
        }
        UserStoreKind::File => {
            let users = match &settings.users.file {
                Some(path) => Users::load(path)?,
                None => Users::demo(),
            };
            Ok(users.accounts().into_iter().cloned().collect())
        }
    }
}

/// Run a `users` subcommand.
pub fn run(config: Option<&Path>, args: UsersArgs) -> Result<()> {
    let settings = Settings::load(config)?;
    let service = args.service;
    let what = if service { "pass code" } else { "password" };
    let unknown = |name: &str| {
        UsersCommandError::Account(format!("{} does not exist", describe(service, name)))
    };
    let mut command = args.command;
    command.canonicalize();
    let allow_case_variants = settings.users.allow_case_variants;
    match command {
        UsersCommand::Add { name, fields } => {
            checked_name(&name, service)?;
            let mut user = User {
                name: name.clone(),
                hash: std::sync::Arc::new(placeholder_hash()),
                roles: Vec::new(),
                claims: Map::new(),
                disabled: false,
                id: None,
                organisations: Vec::new(),
                units: Vec::new(),
                service,
                authentication_code: None,
                totp: None,
            };
            apply(&mut user, &fields, &[])?;
            let store = open_store(&settings, "add")?;
            if store.get(service, &name)?.is_some() {
                return Err(exists(service, &name));
            }
            let existing = store.list()?;
            look_alike(existing.iter().chain([&user]), allow_case_variants)
                .map_err(|m| UsersCommandError::Account(format!("not added: {m}")))?;
            user.hash = std::sync::Arc::new(new_hash(what, &settings)?);
            match store.add(&user) {
                Err(QueryError::Conflict(_)) => Err(exists(service, &name)),
                other => Ok(other?),
            }?;
            eprintln!("added {}", describe(service, &name));
        }
        UsersCommand::Update {
            name,
            fields,
            clear,
        } => {
            let store = open_store(&settings, "update")?;
            // The write names the hash it read: a `passwd` in between makes it miss, and the
            // change is applied again to what is there now.
            let mut tries = 0;
            loop {
                let mut user = store.get(service, &name)?.ok_or_else(|| unknown(&name))?;
                apply(&mut user, &fields, &clear)?;
                if store.update(&user, changed_columns(&fields, &clear))? {
                    break;
                }
                tries += 1;
                if tries == 5 {
                    return Err(UsersCommandError::Account(format!(
                        "{} keeps changing; try again",
                        describe(service, &name)
                    )));
                }
            }
            eprintln!("updated {}", describe(service, &name));
        }
        UsersCommand::Passwd { name } => {
            let store = open_store(&settings, "passwd")?;
            if store.get(service, &name)?.is_none() {
                return Err(unknown(&name));
            }
            let hash = new_hash(what, &settings)?;
            if !store.set_hash(service, &name, hash.phc())? {
                return Err(unknown(&name));
            }
            eprintln!("new {what} set for {}", describe(service, &name));
            end_account(&settings, service, &name, "password")?;
        }
        UsersCommand::Disable { name } => {
            let store = open_store(&settings, "disable")?;
            if !store.set_disabled(service, &name, true)? {
                return Err(unknown(&name));
            }
            eprintln!("disabled {}", describe(service, &name));
            end_account(&settings, service, &name, "disabled")?;
        }
        UsersCommand::Enable { name } => {
            let store = open_store(&settings, "enable")?;
            if !store.set_disabled(service, &name, false)? {
                return Err(unknown(&name));
            }
            eprintln!("enabled {}", describe(service, &name));
        }
        UsersCommand::Remove { name } => {
            let store = open_store(&settings, "remove")?;
            if !store.remove(service, &name)? {
                return Err(unknown(&name));
            }
            eprintln!("removed {}", describe(service, &name));
            end_account(&settings, service, &name, "removed")?;
        }
        UsersCommand::Logout { name } => {
            if !settings.sessions.enabled {
                return Err(UsersCommandError::Usage(
                    "sessions.enabled is false: there are no sessions to end (access tokens \
                     then live until their exp)"
                        .into(),
                ));
            }
            end_account(&settings, service, &name, "logout")?;
        }
        UsersCommand::List { json } => {
            let accounts: Vec<User> = all_accounts(&settings)?
                .into_iter()
                .filter(|u| !service || u.service)
                .collect();
            if json {
                let list: Vec<Value> = accounts.iter().map(listing).collect();
                println!("{}", Value::Array(list));
            } else {
                print_table(&accounts);
            }
        }
        UsersCommand::Import { file, replace } => {
            let users = Users::load(&file)?;
            let store = open_store(&settings, "import")?;
            // The file's accounts beside those it does not replace: no look-alikes among
            // them, or nothing is imported.
            let incoming = users.accounts();
            let existing = store.list()?;
            let kept = existing.iter().filter(|e| {
                !incoming
                    .iter()
                    .any(|u| u.service == e.service && u.name == e.name && replace)
            });
            look_alike(kept.chain(incoming.iter().copied()), allow_case_variants)
                .map_err(|m| UsersCommandError::Account(format!("{m}; nothing was imported")))?;
            match store.import(&users, replace) {
                Ok(n) => eprintln!("imported {n} accounts from {}", file.display()),
                Err(ImportError::Exists(who)) => {
                    return Err(UsersCommandError::Account(format!(
                        "{who} exists already; nothing was imported (use --replace to \
                         overwrite existing accounts)"
                    )))
                }
                Err(e @ ImportError::AuthenticationCode(_)) => {
                    return Err(UsersCommandError::Account(e.to_string()))
                }
                Err(ImportError::Query(e)) => return Err(e.into()),
            }
        }
        UsersCommand::Totp(command) => {
            if service {
                return Err(UsersCommandError::Usage(
                    "TOTP is for people; service accounts log in with their pass code".into(),
                ));
            }
            let store = open_store(&settings, "totp")?;
            totp_command::run(&settings, &store, command)?;
        }
        UsersCommand::Check { name: Some(name) } => {
            if settings.users.store == UserStoreKind::Ldap {
                if service {
                    return Err(UsersCommandError::Usage(
                        "users.store is \"ldap\": the directory holds people only; service \
                         accounts are unknown to it"
                            .into(),
                    ));
                }
                return check_in_directory(&settings, &name);
            }
            let accounts = all_accounts(&settings)?;
            let user = accounts
                .iter()
                .find(|u| u.service == service && u.name == name)
                .ok_or_else(|| unknown(&name))?;
            println!("{}", listing(user));
        }
        UsersCommand::Check { name: None } if settings.users.store == UserStoreKind::Ldap => {
            eprintln!(
                "users.store is \"ldap\": no password hash is kept here (the directory checks \
                 passwords); `watchword users check NAME` shows one person"
            );
        }
        UsersCommand::Check { name: None } => {
            let target = &settings.password.params;
            let accounts = all_accounts(&settings)?;
            let weak: Vec<&User> = accounts
                .iter()
                .filter(|u| u.hash.is_weaker_than(target))
                .collect();
            for u in &weak {
                println!("{}\t{}\t{}", u.name, kind(u), strength(&u.hash));
            }
            let advice = match settings.users.store {
                UserStoreKind::Database => "they are rehashed at their next successful login",
                UserStoreKind::Ldap => "the directory checks passwords",
                UserStoreKind::File => {
                    "the users file is never rewritten: set new hashes with `watchword hash-password`"
                }
            };
            eprintln!(
                "{} of {} accounts have a hash weaker than password.* (m={}, t={}, p={}); {advice}",
                weak.len(),
                accounts.len(),
                target.m_cost(),
                target.t_cost(),
                target.p_cost()
            );
        }
    }
    Ok(())
}

/// With sessions on, end the account's sessions and earlier access tokens (a changed
/// password, a disabled or removed account, or `users logout`); nothing otherwise.
fn end_account(settings: &Settings, service: bool, name: &str, reason: &str) -> Result<()> {
    if !settings.sessions.enabled {
        return Ok(());
    }
    let db = Database::open(&settings.database)?;
    db.prepare(false)?;
    let lifetime = subject_lifetime(&settings.token);
    let ended = end_account_blocking(&db, service, name, reason, lifetime)?;
    eprintln!(
        "logged out {}: {ended} sessions ended; access tokens issued until now are refused \
         within sessions.revocation_poll ({})",
        describe(service, name),
        humantime::format_duration(settings.sessions.revocation_poll)
    );
    Ok(())
}

fn exists(service: bool, name: &str) -> UsersCommandError {
    UsersCommandError::Account(format!("{} exists already", describe(service, name)))
}

/// A name that could never log in is a usage error.
fn checked_name(name: &str, service: bool) -> Result<()> {
    check_name(name).map_err(|m| {
        let m = if service {
            m.replace("name", "identifier")
        } else {
            m.to_owned()
        };
        UsersCommandError::Usage(format!("{}: {m}", describe(service, name)))
    })
}

/// Stands in for the hash until the password is read (after every option was checked).
fn placeholder_hash() -> StoredHash {
    StoredHash::dummy(&argon2::Params::new(8, 1, 1, None).expect("minimal argon2 parameters"))
}

fn new_hash(what: &'static str, settings: &Settings) -> Result<StoredHash> {
    let secret = read_new_secret(what)?;
    let phc = hash_password(
        secrecy::ExposeSecret::expose_secret(&secret),
        &settings.password.params,
    )
    .map_err(UsersCommandError::Hash)?;
    Ok(StoredHash::parse(&phc).expect("a hash just made parses"))
}

/// Apply the given options (and `--clear`) to `user`; every value is checked first.
/// The columns `update` writes: those its options name, and no other.
fn changed_columns(fields: &Fields, clear: &[Clear]) -> Columns {
    let cleared = |c: Clear| clear.contains(&c);
    Columns {
        roles: fields.roles.is_some() || cleared(Clear::Roles),
        claims: fields.claims.is_some() || cleared(Clear::Claims),
        disabled: fields.disabled,
        id: fields.id.is_some() || cleared(Clear::Id),
        organisations: fields.organisations.is_some() || cleared(Clear::Organisations),
        units: fields.units.is_some() || cleared(Clear::Units),
    }
}

fn apply(user: &mut User, fields: &Fields, clear: &[Clear]) -> Result<()> {
    let usage = |m: String| UsersCommandError::Usage(m);
    if user.service && (fields.units.is_some() || fields.id.is_some()) {
        return Err(usage(
            "--unit and --id are for people; service accounts have neither".into(),
        ));
    }
    for c in clear {
        match c {
            Clear::Roles => user.roles.clear(),
            Clear::Claims => user.claims.clear(),
            Clear::Organisations => user.organisations.clear(),
            Clear::Units => user.units.clear(),
            Clear::Id => user.id = None,
        }
    }
    if let Some(roles) = &fields.roles {
        user.roles = roles.clone();
    }
    if let Some(claims) = &fields.claims {
        let mut map = Map::new();
        for claim in claims {
            let (key, json) = claim
                .split_once('=')
                .ok_or_else(|| usage(format!("--claim {claim:?}: expected KEY=JSON")))?;
            if is_reserved_claim(key) {
                return Err(usage(format!(
                    "--claim {key}: reserved and cannot be set per user (reserved: {}; compared \
                     ignoring case and surrounding whitespace)",
                    RESERVED_CLAIMS.join(", ")
                )));
            }
            let value: Value = serde_json::from_str(json).map_err(|e| {
                usage(format!(
                    "--claim {key}: the value is not JSON ({e}); a string needs quotes, \
                     e.g. {key}='\"text\"'"
                ))
            })?;
            map.insert(key.to_owned(), value);
        }
        user.claims = map;
    }
    if let Some(orgs) = &fields.organisations {
        user.organisations = orgs.clone();
    }
    if let Some(units) = &fields.units {
        user.units = units.clone();
    }
    if let Some(id) = &fields.id {
        uuid::Uuid::parse_str(id).map_err(|_| usage(format!("--id {id:?} is not a UUID")))?;
        user.id = Some(id.clone());
    }
    if fields.disabled {
        user.disabled = true;
    }
    Ok(())
}

fn kind(u: &User) -> &'static str {
    if u.service {
        "service"
    } else {
        "user"
    }
}

/// One account for `list --json`: never a hash.
fn listing(u: &User) -> Value {
    serde_json::json!({
        "name": u.name,
        "kind": kind(u),
        "roles": u.roles,
        "disabled": u.disabled,
        "id": u.id,
        "organisations": u.organisations,
        "units": u.units,
    })
}

fn print_table(accounts: &[User]) {
    let rows: Vec<[String; 7]> = accounts
        .iter()
        .map(|u| {
            [
                u.name.clone(),
                kind(u).to_owned(),
                u.roles.join(","),
                if u.disabled { "yes" } else { "no" }.to_owned(),
                u.id.clone().unwrap_or_else(|| "-".into()),
                u.organisations.join(","),
                u.units.join(","),
            ]
        })
        .collect();
    let head = [
        "NAME",
        "KIND",
        "ROLES",
        "DISABLED",
        "ID",
        "ORGANISATIONS",
        "UNITS",
    ];
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(head.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// "argon2id v=19 m=8192 t=1 p=1 out=32".
fn strength(hash: &StoredHash) -> String {
    let p = hash.params();
    let head = hash.phc().split('$').nth(1).unwrap_or("?");
    format!("{head} m={} t={} p={}", p.m_cost(), p.t_cost(), p.p_cost())
}
