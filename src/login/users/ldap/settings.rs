//! `[ldap]` as the directory store runs with it (config/ldap.rs reads and checks it).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use secrecy::SecretString;

/// How the connection is protected. There is no "try TLS, else plain": a directory that
/// does not complete the handshake gets no password.
#[derive(Debug, Clone)]
pub enum Transport {
    /// `ldaps://`: TLS from the first byte.
    Ldaps(Vec<CertificateDer<'static>>),
    /// `ldap://` with `start_tls = true`: the StartTLS extended operation before anything else.
    StartTls(Vec<CertificateDer<'static>>),
    /// `ldap://` with `insecure_no_tls = true`: passwords in the clear (a test bench only).
    Plain,
}

/// Where a person's groups come from.
#[derive(Debug, Clone)]
pub enum GroupLookup {
    /// No groups: every account's roles are empty.
    None,
    /// A `memberOf`-style attribute of the person's own entry, holding group DNs.
    Attribute(String),
    /// A search under `base` with `filter` (`{dn}` and `{username}` escaped into it).
    Search {
        /// `ldap.group_base`.
        base: String,
        /// `ldap.group_filter`.
        filter: String,
    },
}

/// `[ldap]`, checked.
#[derive(Debug, Clone)]
pub struct LdapSettings {
    /// `ldap.url`: `ldaps://HOST:PORT` or `ldap://HOST:PORT`.
    pub url: String,
    /// From `url`, `start_tls`, `insecure_no_tls` and `ca_file`.
    pub transport: Transport,
    /// `ldap.bind_dn`: the service account that searches.
    pub bind_dn: String,
    /// Read from `ldap.bind_password_file`.
    pub bind_password: SecretString,
    /// `ldap.user_base`.
    pub user_base: String,
    /// `ldap.user_filter`, with `{username}` where the escaped name goes.
    pub user_filter: String,
    /// `ldap.sub_attribute`: the token's `sub`; `None` = the name as sent.
    pub sub_attribute: Option<String>,
    /// `ldap.uid_attribute`: the `uid` claim (e.g. `entryUUID`); `None` = no `uid`.
    pub uid_attribute: Option<String>,
    /// `ldap.claim_attributes`: claim name → attribute.
    pub claim_attributes: BTreeMap<String, String>,
    /// `ldap.organisations_attribute`: the organisations the person may log in to.
    pub organisations_attribute: Option<String>,
    /// `ldap.units_attribute`: the units within them.
    pub units_attribute: Option<String>,
    /// `group_attribute`, or `group_base` + `group_filter`.
    pub groups: GroupLookup,
    /// `ldap.group_roles`: a group's DN (lower case, as compared) → roles.
    pub group_roles: HashMap<String, Vec<String>>,
    /// `ldap.timeout`: each connect, StartTLS, bind and search.
    pub timeout: Duration,
    /// `ldap.max_connections`: person binds under way at once, each on its own connection.
    pub max_connections: usize,
    /// `ldap.min_refusal_time`: a refused login answers no sooner than this after its lookup
    /// started, so an unknown name (one search) answers like a known one (search and bind).
    pub min_refusal_time: Duration,
}

/// How DNs are compared with `group_roles`: attribute names and values are case-insensitive
/// in the usual schemas, and directories differ in the spaces they keep after commas.
pub fn normalise_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| rdn.trim().to_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::normalise_dn;

    #[test]
    fn group_dns_compare_ignoring_case_and_spaces_after_commas() {
        assert_eq!(
            normalise_dn("CN=Admins, OU=Groups,dc=Example,dc=org"),
            normalise_dn("cn=admins,ou=groups,dc=example,dc=org")
        );
        assert_ne!(
            normalise_dn("cn=admins,ou=groups,dc=example,dc=org"),
            normalise_dn("cn=admins2,ou=groups,dc=example,dc=org")
        );
    }
}
