//! The hashes an unknown account name is checked against, so that its answer time is that of
//! an account that exists, even when the accounts' hashes were made with other argon2
//! parameters than `password.*`.
//!
//! One dummy hash of `password.*` is not enough: a user hashed before a cost change costs
//! what their own hash costs (170 ms at m=65536, t=3 against 26 ms at the defaults), so a
//! name that answers slowly exists. Instead there is one dummy per parameter set in use, and
//! each unknown name is checked against one of them, chosen by a keyed hash of the name:
//! always the same one for a name (a real account never changes its cost either), and each set
//! chosen for as many names, in proportion, as there are accounts using it. A disabled account
//! is checked against its own hash. What is left to see is that a parameter set is in use at
//! all; rehashing every account after changing `password.*` (with `watchword hash-password`)
//! removes that too, and the start log says how many accounts differ.
//!
//! The key is derived from the signing key, which replicas share, so a name costs the same on
//! every replica; without a signing key file (an ephemeral key) it is random per process.

use std::sync::Arc;

use argon2::{Algorithm, Params, Version};
use aws_lc_rs::{digest, hmac};

use super::password::{HashCost, StoredHash};
use super::users::User;

/// Dummy hashes for unknown people and unknown service accounts.
pub struct DummyHashes {
    key: hmac::Key,
    people: Choices,
    services: Choices,
}

/// Dummies of one namespace with how many accounts use each one's cost.
struct Choices {
    /// (dummy, accounts with its cost); never empty.
    dummies: Vec<(Arc<StoredHash>, u64)>,
    total: u64,
}

impl Choices {
    fn new(accounts: &[&User], default: &Arc<StoredHash>) -> Choices {
        let mut dummies: Vec<(Arc<StoredHash>, u64)> = Vec::new();
        for user in accounts {
            let cost = user.hash.cost();
            match dummies.iter_mut().find(|(d, _)| d.cost() == cost) {
                Some((_, count)) => *count += 1,
                None if cost == default.cost() => dummies.push((Arc::clone(default), 1)),
                None => dummies.push((Arc::new(user.hash.dummy_like()), 1)),
            }
        }
        if dummies.is_empty() {
            dummies.push((Arc::clone(default), 1));
        }
        let total = dummies.iter().map(|(_, n)| n).sum();
        Choices { dummies, total }
    }

    fn pick(&self, draw: u64) -> &Arc<StoredHash> {
        let mut at = draw % self.total;
        for (dummy, count) in &self.dummies {
            if at < *count {
                return dummy;
            }
            at -= count;
        }
        &self.dummies[0].0
    }
}

impl DummyHashes {
    /// Dummies for `accounts` (every account of the store, disabled ones too), a dummy of
    /// `default` (`password.*`) when a namespace has no account, and the choice keyed by
    /// `key_material` (secret bytes: the signing key).
    pub fn new(accounts: &[&User], default: &Params, key_material: &[u8]) -> DummyHashes {
        let default = Arc::new(StoredHash::dummy(default));
        let (services, people): (Vec<&User>, Vec<&User>) = accounts.iter().partition(|u| u.service);
        let mut derived = digest::Context::new(&digest::SHA256);
        derived.update(b"watchword: the dummy hash an unknown account name is checked against\0");
        derived.update(key_material);
        DummyHashes {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.finish().as_ref()),
            people: Choices::new(&people, &default),
            services: Choices::new(&services, &default),
        }
    }

    /// The dummy an unknown person (or, with `service`, service account) called `name` is
    /// checked against: the same for the same name, every time and on every replica.
    pub fn for_name(&self, service: bool, name: &str) -> Arc<StoredHash> {
        let mut tag = hmac::Context::with_key(&self.key);
        tag.update(if service { b"service\0" } else { b"person\0" });
        tag.update(name.as_bytes());
        let tag = tag.sign();
        let mut draw = [0u8; 8];
        draw.copy_from_slice(&tag.as_ref()[..8]);
        let choices = if service {
            &self.services
        } else {
            &self.people
        };
        Arc::clone(choices.pick(u64::from_le_bytes(draw)))
    }

    /// The parameter sets in use and how many accounts use each, people and services
    /// together, most used first.
    pub fn costs(&self) -> Vec<(HashCost, u64)> {
        let mut costs: Vec<(HashCost, u64)> = Vec::new();
        for (dummy, count) in self.people.dummies.iter().chain(&self.services.dummies) {
            match costs.iter_mut().find(|(c, _)| *c == dummy.cost()) {
                Some((_, n)) => *n += count,
                None => costs.push((dummy.cost(), *count)),
            }
        }
        costs.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        costs
    }
}

/// How many of `accounts` have a hash whose cost differs from new hashes of `params`, for the
/// start log.
pub fn differing(accounts: &[&User], params: &Params) -> usize {
    let wanted = HashCost {
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        m_cost: params.m_cost(),
        t_cost: params.t_cost(),
        p_cost: params.p_cost(),
        tag_len: params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN),
    };
    accounts.iter().filter(|u| u.hash.cost() != wanted).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::password::hash_password;

    fn user(name: &str, service: bool, params: &Params) -> User {
        User {
            name: name.into(),
            hash: Arc::new(StoredHash::parse(&hash_password("pw", params).unwrap()).unwrap()),
            roles: vec![],
            claims: Default::default(),
            disabled: false,
            id: None,
            organisations: vec![],
            units: vec![],
            service,
            authentication_code: None,
            totp: None,
        }
    }

    #[test]
    fn unknown_names_cost_what_accounts_cost_in_proportion() {
        let (a, b, c) = (
            Params::new(64, 2, 1, None).unwrap(),
            Params::new(32, 1, 1, None).unwrap(),
            Params::new(16, 1, 1, None).unwrap(),
        );
        let users = [
            user("a1", false, &a),
            user("a2", false, &a),
            user("a3", false, &a),
            user("b1", false, &b),
            user("s1", true, &c),
        ];
        let refs: Vec<&User> = users.iter().collect();
        let dummies = DummyHashes::new(&refs, &Params::new(8, 1, 1, None).unwrap(), b"key");
        let mut heavy = 0;
        for i in 0..400 {
            let name = format!("nobody-{i}");
            let cost = dummies.for_name(false, &name).cost();
            assert_eq!(
                cost,
                dummies.for_name(false, &name).cost(),
                "one cost per name"
            );
            assert!(cost == users[0].hash.cost() || cost == users[3].hash.cost());
            heavy += usize::from(cost == users[0].hash.cost());
            assert_eq!(dummies.for_name(true, &name).cost(), users[4].hash.cost());
        }
        // Three accounts in four use `a`: about 300 of 400 names.
        assert!((240..=360).contains(&heavy), "{heavy} of 400");
        assert_eq!(dummies.costs()[0], (users[0].hash.cost(), 3));
        assert_eq!(differing(&refs, &a), 2);
        // Another key chooses otherwise for some names.
        let other = DummyHashes::new(&refs, &Params::new(8, 1, 1, None).unwrap(), b"other");
        assert!((0..400).any(|i| {
            let name = format!("nobody-{i}");
            dummies.for_name(false, &name).cost() != other.for_name(false, &name).cost()
        }));
    }

    #[test]
    fn without_accounts_the_default_is_used() {
        let default = Params::new(8, 1, 1, None).unwrap();
        let dummies = DummyHashes::new(&[], &default, b"key");
        let cost = dummies.for_name(false, "x").cost();
        assert_eq!((cost.m_cost, cost.t_cost, cost.p_cost), (8, 1, 1));
        assert_eq!(dummies.for_name(true, "x").cost(), cost);
    }
}
