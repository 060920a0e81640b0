//! `[ldap]`: the directory of `users.store = "ldap"`: its raw form and checks; the settings
//! type is the store's own ([`LdapSettings`]). Checked only when the store is in use, so a
//! deployment on the file or the database never trips over an unfinished `[ldap]`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::checks::{at_most, duration, positive};
use super::error::{invalid, ConfigError};
use crate::login::users::ldap::{normalise_dn, GroupLookup, LdapSettings, Transport};
use watchword_verify::is_reserved_claim;

/// Most person binds `ldap.max_connections` may run at once.
pub const MAX_LDAP_CONNECTIONS: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLdap {
    url: String,
    start_tls: bool,
    insecure_no_tls: bool,
    ca_file: String,
    bind_dn: String,
    bind_password_file: String,
    user_base: String,
    user_filter: String,
    sub_attribute: String,
    uid_attribute: String,
    #[serde(default)]
    claim_attributes: BTreeMap<String, String>,
    organisations_attribute: String,
    units_attribute: String,
    group_base: String,
    group_filter: String,
    group_attribute: String,
    #[serde(default)]
    group_roles: BTreeMap<String, Vec<String>>,
    timeout: String,
    max_connections: usize,
    min_refusal_time: String,
}

fn required(key: &'static str, value: &str, example: &str) -> Result<String, ConfigError> {
    match value.trim() {
        "" => Err(invalid(
            key,
            format!("users.store = \"ldap\" needs it (e.g. {example})"),
        )),
        v => Ok(v.to_owned()),
    }
}

fn optional(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The CA certificates of `ldap.ca_file` (PEM): the directory's certificate must chain to one.
fn ca_certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let path = required(
        "ldap.ca_file",
        path,
        "\"/etc/watchword/ldap-ca.pem\", the CA that signed the directory's certificate",
    )?;
    let text = std::fs::read(&path)
        .map_err(|e| invalid("ldap.ca_file", format!("cannot read {path}: {e}")))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid("ldap.ca_file", format!("{path} is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            "ldap.ca_file",
            format!("{path} holds no certificate (it must hold the CA's, PEM)"),
        ));
    }
    Ok(certs)
}

impl RawLdap {
    pub(super) fn validate(self) -> Result<LdapSettings, ConfigError> {
        let url = required("ldap.url", &self.url, "\"ldaps://ldap.example.org:636\"")?;
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        let transport = match (scheme, self.start_tls, self.insecure_no_tls) {
            ("ldaps", false, false) => Transport::Ldaps(ca_certificates(&self.ca_file)?),
            ("ldap", true, false) => Transport::StartTls(ca_certificates(&self.ca_file)?),
            ("ldap", false, true) => Transport::Plain,
            ("ldaps", true, _) => {
                return Err(invalid(
                    "ldap.start_tls",
                    "ldaps:// is TLS already; StartTLS is for ldap:// (set one of the two)",
                ))
            }
            (_, true, true) | ("ldaps", _, true) => {
                return Err(invalid(
                    "ldap.insecure_no_tls",
                    "cannot go with TLS (ldaps:// or start_tls = true); remove it",
                ))
            }
            ("ldap", false, false) => {
                return Err(invalid(
                    "ldap.start_tls",
                    "ldap:// would send passwords in the clear: set start_tls = true, or use \
                     ldaps://; insecure_no_tls = true only on a test bench",
                ))
            }
            (other, _, _) => {
                return Err(invalid(
                    "ldap.url",
                    format!("the scheme {other:?} is not supported; use ldaps://HOST:PORT or ldap://HOST:PORT with start_tls = true"),
                ))
            }
        };
        let bind_dn = required(
            "ldap.bind_dn",
            &self.bind_dn,
            "\"cn=watchword,ou=services,dc=example,dc=org\"",
        )?;
        let path = required(
            "ldap.bind_password_file",
            &self.bind_password_file,
            "\"/run/secrets/ldap-password\", a file holding the service account's password",
        )?;
        let text = SecretString::from(std::fs::read_to_string(&path).map_err(|e| {
            invalid(
                "ldap.bind_password_file",
                format!("cannot read {path}: {e} (it must hold the service account's password)"),
            )
        })?);
        // One trailing newline is the editor's, not the password's.
        let password = text.expose_secret();
        let password = password
            .strip_suffix('\n')
            .map_or(password, |p| p.strip_suffix('\r').unwrap_or(p));
        if password.is_empty() {
            // An empty password is an unauthenticated bind, which lenient directories answer
            // with success as anonymous (RFC 4513 §5.1.2).
            return Err(invalid(
                "ldap.bind_password_file",
                format!("{path} is empty; an empty password would bind as anonymous"),
            ));
        }
        let bind_password = SecretString::from(password.to_owned());
        let user_base = required(
            "ldap.user_base",
            &self.user_base,
            "\"ou=people,dc=example,dc=org\"",
        )?;
        let user_filter = required(
            "ldap.user_filter",
            &self.user_filter,
            "\"(uid={username})\"",
        )?;
        if !user_filter.contains("{username}") {
            return Err(invalid(
                "ldap.user_filter",
                format!("{user_filter:?} has no {{username}}, where the escaped user name goes (e.g. \"(&(objectClass=person)(uid={{username}}))\")"),
            ));
        }
        for claim in self.claim_attributes.keys() {
            if is_reserved_claim(claim) {
                return Err(invalid(
                    "ldap.claim_attributes",
                    format!("{claim:?} is a registered claim that watchword sets itself; pick another name"),
                ));
            }
        }
        let groups = match (optional(&self.group_attribute), optional(&self.group_base)) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "ldap.group_attribute",
                    "set either group_attribute (e.g. memberOf) or group_base with group_filter, not both",
                ))
            }
            (Some(attribute), None) => GroupLookup::Attribute(attribute),
            (None, Some(base)) => {
                let filter = required("ldap.group_filter", &self.group_filter, "\"(member={dn})\"")?;
                if !filter.contains("{dn}") && !filter.contains("{username}") {
                    return Err(invalid(
                        "ldap.group_filter",
                        format!("{filter:?} names neither {{dn}} nor {{username}}: it would give everyone the same groups"),
                    ));
                }
                GroupLookup::Search { base, filter }
            }
            (None, None) => GroupLookup::None,
        };
        let mut group_roles = HashMap::new();
        for (dn, roles) in self.group_roles {
            group_roles.insert(normalise_dn(&dn), roles);
        }
        if !group_roles.is_empty() && matches!(groups, GroupLookup::None) {
            return Err(invalid(
                "ldap.group_roles",
                "maps groups to roles, but no group is ever looked up: set group_base and \
                 group_filter, or group_attribute",
            ));
        }
        let max_connections = at_most(
            "ldap.max_connections",
            positive("ldap.max_connections", self.max_connections)?,
            MAX_LDAP_CONNECTIONS,
            "person binds at once",
        )?;
        Ok(LdapSettings {
            url,
            transport,
            bind_dn,
            bind_password,
            user_base,
            user_filter,
            sub_attribute: optional(&self.sub_attribute),
            uid_attribute: optional(&self.uid_attribute),
            claim_attributes: self.claim_attributes,
            organisations_attribute: optional(&self.organisations_attribute),
            units_attribute: optional(&self.units_attribute),
            groups,
            group_roles,
            timeout: duration(
                "ldap.timeout",
                &self.timeout,
                Duration::from_millis(100),
                Duration::from_secs(60),
            )?,
            max_connections,
            min_refusal_time: duration(
                "ldap.min_refusal_time",
                &self.min_refusal_time,
                Duration::ZERO,
                Duration::from_secs(10),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::validate_with;

    fn with(dir: &std::path::Path, extra: &str) -> String {
        let pw = dir.join("pw");
        std::fs::write(&pw, "hunter2\n").unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        format!(
            "[users]\nstore = \"ldap\"\n[ldap]\nurl = \"ldaps://h\"\nca_file = {ca:?}\n\
             bind_dn = \"cn=s\"\nbind_password_file = {pw:?}\nuser_base = \"ou=p\"\n{extra}"
        )
    }

    #[test]
    fn ldap_settings_are_checked_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let ok = validate_with(&with(dir.path(), "")).unwrap();
        let ldap = ok.ldap.expect("ldap settings when users.store = ldap");
        assert!(
            !format!("{ldap:?}").contains("hunter2"),
            "Debug shows the password"
        );
        for (extra, key, needle) in [
            ("url = \"ldap://h\"", "ldap.start_tls", "start_tls = true"),
            ("url = \"http://h\"", "ldap.url", "\"http\""),
            ("start_tls = true", "ldap.start_tls", "ldaps://"),
            (
                "insecure_no_tls = true",
                "ldap.insecure_no_tls",
                "remove it",
            ),
            (
                "user_filter = \"(uid=x)\"",
                "ldap.user_filter",
                "{username}",
            ),
            (
                "claim_attributes = { sub = \"mail\" }",
                "ldap.claim_attributes",
                "registered",
            ),
            (
                "group_roles = { \"cn=a\" = [\"x\"] }",
                "ldap.group_roles",
                "group_base",
            ),
            (
                "group_base = \"ou=g\"\ngroup_filter = \"(cn=x)\"",
                "ldap.group_filter",
                "{dn}",
            ),
            ("max_connections = 0", "ldap.max_connections", "at least 1"),
            ("timeout = \"2h\"", "ldap.timeout", "range"),
        ] {
            // Later keys win in TOML? No: a repeated key is an error, so replace the line.
            let toml = with(dir.path(), "").replace("url = \"ldaps://h\"\n", "") + "\n";
            let toml = if extra.starts_with("url") {
                toml + extra
            } else {
                toml + "url = \"ldaps://h\"\n" + extra
            };
            let err = validate_with(&toml).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{key}: ")), "{extra}: {err}");
            assert!(err.contains(needle), "{extra}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let toml = with(dir.path(), "").replace(
            &format!("{:?}", dir.path().join("pw")),
            &format!("{:?}", dir.path().join("empty")),
        );
        let err = validate_with(&toml).unwrap_err().to_string();
        assert!(err.starts_with("ldap.bind_password_file: "), "{err}");
    }
}
