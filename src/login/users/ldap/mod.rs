//! The LDAP directory store (`users.store = "ldap"`): people are searched as the service
//! account and their password is checked by binding as them; watchword keeps no hash.
//!
//! The order of one check, and why:
//! 1. An empty password is refused before any network call: lenient directories answer a
//!    bind with a DN and an empty password with success, as anonymous (RFC 4513 §5.1.2,
//!    §6.3.1). The request parsers refuse it already (400); this is the second lock.
//! 2. Search as the service account, the name escaped once by RFC 4515 rules into
//!    `user_filter`, size limit 2: exactly one entry, or the uniform "no". A name such as
//!    `*)(uid=*` matches only an entry literally called that.
//! 3. Bind as that entry's DN on a fresh connection of its own (never the service
//!    connection, never shared between people): result 49 (invalid credentials) is "no";
//!    anything else, unreachable or a timeout is [`DirectoryError`], which the login path
//!    answers with 503 and counts nothing.
//! 4. Groups (a search, or a `memberOf`-style attribute), mapped to roles by `group_roles`.
//!
//! All of it runs on a runtime of its own (`runtime.rs`), one thread: actix workers only
//! await the answer, so a slow directory never blocks one, and the service connection
//! outlives any worker. The service connection is made on first use and made again when the
//! directory has dropped it (Active Directory drops idle ones after 900 s; `ldap3` does not
//! reconnect by itself): a search that fails on a closed connection is retried once on a new
//! one.

mod settings;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ldap3::{
    ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tokio::sync::{Mutex, Semaphore};

pub use settings::{normalise_dn, GroupLookup, LdapSettings, Transport};

use super::account::User;
use crate::login::password::StoredHash;

/// LDAP result code for a wrong password (or an unknown DN) on bind (RFC 4511 §A.2).
const INVALID_CREDENTIALS: u32 = 49;
/// LDAP result code of a search that found more entries than its size limit.
const SIZE_LIMIT_EXCEEDED: u32 = 4;

/// The directory could not give an answer: unreachable, too slow, TLS refused, or an
/// answer other than success or "invalid credentials". The login answers 503, counts nothing.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Connecting, StartTLS, the TLS handshake or an operation failed.
    #[error("the directory at {url} cannot be used: {what}: {cause}")]
    Unavailable {
        /// `ldap.url`.
        url: String,
        /// What was being done.
        what: &'static str,
        /// The client library's words.
        cause: String,
    },
    /// The directory answered with a result code that is neither success nor a wrong
    /// password (e.g. 53 unwilling to perform).
    #[error("the directory at {url} answered {what} with result {rc}: {text}")]
    Refused {
        /// `ldap.url`.
        url: String,
        /// What was being done.
        what: &'static str,
        /// The LDAP result code.
        rc: u32,
        /// Its diagnostic text.
        text: String,
    },
}

/// One person as the directory knows them (for `watchword users check NAME`).
#[derive(Debug, Clone)]
pub struct Found {
    /// The entry's DN.
    pub dn: String,
    /// The groups found for them (DNs as the directory gave them).
    pub groups: Vec<String>,
    /// The account a token would be issued for.
    pub user: User,
}

/// The directory store; cheap to clone (one service connection for all clones).
#[derive(Clone)]
pub struct Directory {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("url", &self.inner.settings.url)
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: LdapSettings,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The service account's bound connection, made on first use, made again when dropped.
    service: Mutex<Option<Ldap>>,
    /// Person binds under way (`ldap.max_connections`).
    binds: Semaphore,
}

/// The runtime every directory operation runs on: one thread, for the process (a runtime
/// cannot be dropped inside another, and a SIGHUP reload drops stores on actix workers).
fn runtime() -> &'static tokio::runtime::Handle {
    static RUNTIME: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the LDAP store");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("watchword-ldap".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("the LDAP store's thread");
        handle
    })
}

/// What stands in for a hash in the accounts the directory gives: never checked (the
/// directory checked the password), never stored.
fn no_hash() -> Arc<StoredHash> {
    static NONE: OnceLock<Arc<StoredHash>> = OnceLock::new();
    Arc::clone(NONE.get_or_init(|| {
        Arc::new(StoredHash::dummy(
            &argon2::Params::new(8, 1, 1, None).expect("minimal argon2 parameters"),
        ))
    }))
}

impl Directory {
    /// The store for `settings`; nothing connects until the first login, so a directory that
    /// is down (or whose certificate is wrong) at start does not stop the service.
    pub fn new(settings: LdapSettings) -> Directory {
        let tls = match &settings.transport {
            Transport::Ldaps(roots) | Transport::StartTls(roots) => {
                let mut store = rustls::RootCertStore::empty();
                for cert in roots {
                    // A certificate rustls cannot use is left out; the handshake then says so.
                    if let Err(e) = store.add(cert.clone()) {
                        log::warn!("ldap.ca_file: a certificate is not usable as a CA: {e}");
                    }
                }
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::aws_lc_rs::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("aws-lc-rs supports the default TLS versions")
                .with_root_certificates(store)
                .with_no_client_auth();
                Some(Arc::new(config))
            }
            Transport::Plain => None,
        };
        let binds = Semaphore::new(settings.max_connections);
        Directory {
            inner: Arc::new(Inner {
                settings,
                tls,
                service: Mutex::new(None),
                binds,
            }),
        }
    }

    /// `ldap.url`.
    pub fn url(&self) -> &str {
        &self.inner.settings.url
    }

    /// `ldap.min_refusal_time`.
    pub fn min_refusal_time(&self) -> Duration {
        self.inner.settings.min_refusal_time
    }

    /// The person `name` when `password` is theirs (the directory accepted a bind as them);
    /// `None` for an unknown name, a name found twice, a wrong or empty password.
    pub async fn authenticate(
        &self,
        name: &str,
        password: &SecretString,
    ) -> Result<Option<User>, DirectoryError> {
        if password.expose_secret().is_empty() {
            return Ok(None);
        }
        let (inner, name, password) = (self.inner.clone(), name.to_owned(), password.clone());
        self.on_runtime(async move {
            let Some(entry) = inner.find_entry(&name).await? else {
                return Ok(None);
            };
            if !inner.bind_as(&entry.dn, &password).await? {
                return Ok(None);
            }
            Ok(Some(inner.account(&name, entry).await?.user))
        })
        .await
    }

    /// The person `name` as a login would see them, without their password (for operators:
    /// `watchword users check NAME`).
    pub async fn find(&self, name: &str) -> Result<Option<Found>, DirectoryError> {
        let (inner, name) = (self.inner.clone(), name.to_owned());
        self.on_runtime(async move {
            match inner.find_entry(&name).await? {
                None => Ok(None),
                Some(entry) => Ok(Some(inner.account(&name, entry).await?)),
            }
        })
        .await
    }

    /// Run `work` on the directory's runtime and await it from here (an actix worker).
    async fn on_runtime<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, DirectoryError>> + Send + 'static,
    ) -> Result<T, DirectoryError> {
        let url = self.inner.settings.url.clone();
        match runtime().spawn(work).await {
            Ok(result) => result,
            Err(e) => Err(DirectoryError::Unavailable {
                url,
                what: "the lookup",
                cause: format!("it stopped: {e}"),
            }),
        }
    }
}

impl Inner {
    fn unavailable(&self, what: &'static str, cause: impl std::fmt::Display) -> DirectoryError {
        DirectoryError::Unavailable {
            url: self.settings.url.clone(),
            what,
            cause: cause.to_string(),
        }
    }

    /// A new connection (TLS as configured, StartTLS done), driven on this runtime.
    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let s = &self.settings;
        let mut conn = LdapConnSettings::new().set_conn_timeout(s.timeout);
        if let Some(tls) = &self.tls {
            conn = conn.set_config(Arc::clone(tls));
        }
        if matches!(s.transport, Transport::StartTls(_)) {
            conn = conn.set_starttls(true);
        }
        // The whole of it (TCP, TLS, StartTLS) within the timeout: set_conn_timeout bounds
        // the TCP connect alone.
        let made = tokio::time::timeout(s.timeout, LdapConnAsync::with_settings(conn, &s.url))
            .await
            .map_err(|_| self.unavailable("connecting", "timed out"))?;
        let (driver, ldap) = made.map_err(|e| self.unavailable("connecting", e))?;
        tokio::spawn(async move {
            if let Err(e) = driver.drive().await {
                log::debug!("ldap connection ended: {e}");
            }
        });
        Ok(ldap)
    }

    /// The service connection, bound as `bind_dn`: the one kept, unless the directory has
    /// closed it, else a new one.
    async fn service(&self, fresh: bool) -> Result<Ldap, DirectoryError> {
        let mut kept = self.service.lock().await;
        if let Some(ldap) = kept.as_mut() {
            if !fresh && !ldap.is_closed() {
                return Ok(ldap.clone());
            }
        }
        *kept = None;
        let mut ldap = self.connect().await?;
        let s = &self.settings;
        let result = ldap
            .with_timeout(s.timeout)
            .simple_bind(&s.bind_dn, s.bind_password.expose_secret())
            .await
            .map_err(|e| self.unavailable("binding as ldap.bind_dn", e))?;
        if result.rc != 0 {
            return Err(DirectoryError::Refused {
                url: s.url.clone(),
                what: "the bind as ldap.bind_dn",
                rc: result.rc,
                text: result.text,
            });
        }
        *kept = Some(ldap.clone());
        Ok(ldap)
    }

    /// One search as the service account. A connection the directory has dropped since it
    /// was last used fails at once; then the search is made again, once, on a new one.
    async fn search(
        &self,
        base: &str,
        filter: &str,
        attrs: &[String],
        size_limit: i32,
    ) -> Result<(Vec<SearchEntry>, u32), DirectoryError> {
        let mut fresh = false;
        loop {
            let mut ldap = self.service(fresh).await?;
            let answer = ldap
                .with_search_options(SearchOptions::new().sizelimit(size_limit))
                .with_timeout(self.settings.timeout)
                .search(base, Scope::Subtree, filter, attrs)
                .await;
            match answer {
                Ok(result) => {
                    let rc = result.1.rc;
                    if rc != 0 && rc != SIZE_LIMIT_EXCEEDED {
                        return Err(DirectoryError::Refused {
                            url: self.settings.url.clone(),
                            what: "a search",
                            rc,
                            text: result.1.text,
                        });
                    }
                    let entries = result.0.into_iter().map(SearchEntry::construct).collect();
                    return Ok((entries, rc));
                }
                Err(e) if !fresh && !matches!(e, ldap3::LdapError::Timeout { .. }) => {
                    log::info!("ldap: the service connection failed ({e}); making a new one");
                    fresh = true;
                }
                Err(e) => {
                    // A connection that timed out may hang for ever (a dropped route, a
                    // firewall that forgot it): the next login starts on a new one.
                    *self.service.lock().await = None;
                    return Err(self.unavailable("searching", e));
                }
            }
        }
    }

    /// The one entry `user_filter` finds for `name`, or `None` (none, or more than one).
    async fn find_entry(&self, name: &str) -> Result<Option<SearchEntry>, DirectoryError> {
        let s = &self.settings;
        let filter = s.user_filter.replace("{username}", &ldap_escape(name));
        let mut attrs: Vec<String> = [
            &s.sub_attribute,
            &s.uid_attribute,
            &s.organisations_attribute,
            &s.units_attribute,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .chain(s.claim_attributes.values().cloned())
        .collect();
        if let GroupLookup::Attribute(a) = &s.groups {
            attrs.push(a.clone());
        }
        if attrs.is_empty() {
            // No attribute at all (RFC 4511 §4.5.1.8): "1.1", not the empty list (= all).
            attrs.push("1.1".into());
        }
        let (mut entries, _) = self.search(&s.user_base, &filter, &attrs, 2).await?;
        match entries.len() {
            1 => Ok(entries.pop()),
            0 => Ok(None),
            n => {
                log::warn!(
                    "ldap: ldap.user_filter finds at least {n} entries for one user name; \
                     refused (make the filter match one entry per person)"
                );
                Ok(None)
            }
        }
    }

    /// Bind as `dn` with `password` on a connection of its own, closed afterwards: `true`
    /// when the directory accepts it, `false` for invalid credentials.
    async fn bind_as(&self, dn: &str, password: &SecretString) -> Result<bool, DirectoryError> {
        let _permit = tokio::time::timeout(self.settings.timeout, self.binds.acquire())
            .await
            .map_err(|_| {
                self.unavailable("waiting for a free ldap.max_connections slot", "timed out")
            })?
            .map_err(|e| self.unavailable("waiting for a connection slot", e))?;
        let mut ldap = self.connect().await?;
        let result = ldap
            .with_timeout(self.settings.timeout)
            .simple_bind(dn, password.expose_secret())
            .await;
        // Best effort: the connection goes away with its driver either way.
        let _ = ldap.unbind().await;
        let result = result.map_err(|e| self.unavailable("binding as the person", e))?;
        match result.rc {
            0 => Ok(true),
            INVALID_CREDENTIALS => Ok(false),
            rc => Err(DirectoryError::Refused {
                url: self.settings.url.clone(),
                what: "the bind as the person",
                rc,
                text: result.text,
            }),
        }
    }

    /// The account for `entry`: `sub`, `uid`, claims, organisations, units, and roles from
    /// its groups.
    async fn account(&self, name: &str, entry: SearchEntry) -> Result<Found, DirectoryError> {
        let s = &self.settings;
        let values = |attribute: &str| -> Vec<String> {
            entry
                .attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(attribute))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let first = |attribute: &Option<String>| {
            attribute
                .as_deref()
                .and_then(|a| values(a).into_iter().next())
        };
        let groups = match &s.groups {
            GroupLookup::None => Vec::new(),
            GroupLookup::Attribute(a) => values(a),
            GroupLookup::Search { base, filter } => {
                let filter = filter
                    .replace("{dn}", &ldap_escape(entry.dn.as_str()))
                    .replace("{username}", &ldap_escape(name));
                let (found, rc) = self
                    .search(base, &filter, &["1.1".to_owned()], 1000)
                    .await?;
                if rc == SIZE_LIMIT_EXCEEDED {
                    log::warn!("ldap: more than 1000 groups for {name:?}; the rest are ignored");
                }
                found.into_iter().map(|g| g.dn).collect()
            }
        };
        let roles: BTreeSet<String> = groups
            .iter()
            .filter_map(|g| s.group_roles.get(&normalise_dn(g)))
            .flatten()
            .cloned()
            .collect();
        let mut claims = Map::new();
        for (claim, attribute) in &s.claim_attributes {
            let mut v = values(attribute);
            match v.len() {
                0 => {}
                1 => {
                    claims.insert(claim.clone(), Value::String(v.remove(0)));
                }
                _ => {
                    claims.insert(
                        claim.clone(),
                        Value::Array(v.into_iter().map(Value::String).collect()),
                    );
                }
            }
        }
        let user = User {
            name: first(&s.sub_attribute).unwrap_or_else(|| name.to_owned()),
            hash: no_hash(),
            roles: roles.into_iter().collect(),
            claims,
            disabled: false,
            id: first(&s.uid_attribute),
            organisations: s
                .organisations_attribute
                .as_deref()
                .map(values)
                .unwrap_or_default(),
            units: s.units_attribute.as_deref().map(values).unwrap_or_default(),
            service: false,
            authentication_code: None,
            // TOTP state lives in the database store; the directory has none.
            totp: None,
        };
        Ok(Found {
            dn: entry.dn,
            groups,
            user,
        })
    }
}
