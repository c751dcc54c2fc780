//! The in-memory picture of the directory: people and keys, and the rules
//! that turn a key into a usable [`Credential`].
//!
//! Keys are stored with their owner's uuid(s) from their DN; logins and the
//! `disabled` flag are read from the people at lookup time, so an account
//! renamed or disabled takes effect on its keys at once.

use std::collections::HashMap;

use crate::types::{AccessKeyId, Account, Credential, KeyStatus, SecretKey, SubUser};

/// An account or sub-user (`sdcPerson`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    /// Bare login (a sub-user's `<account-uuid>/` prefix removed).
    pub login: String,
    /// `disabled: true`.
    pub disabled: bool,
}

/// One `accesskey` entry.
#[derive(Debug, Clone)]
pub(crate) struct KeyRecord {
    pub id: AccessKeyId,
    pub secret: SecretKey,
    pub status: KeyStatus,
    /// uuid of the account the key belongs to (from the DN).
    pub account_uuid: String,
    /// uuid of the sub-user, for a sub-user's key (from the DN).
    pub subuser_uuid: Option<String>,
    pub description: Option<String>,
    pub updated: Option<u64>,
    /// `credentialtype: temporary`: never authenticates here (the gateway
    /// does not check session tokens).
    pub temporary: bool,
}

impl KeyRecord {
    /// Whether `other` is the same directory entry (same id, same owner).
    fn same_entry(&self, other: &KeyRecord) -> bool {
        self.account_uuid == other.account_uuid && self.subuser_uuid == other.subuser_uuid
    }

    /// The key's DN under `users_base` (for logs).
    pub fn dn(&self, users_base: &str) -> String {
        match &self.subuser_uuid {
            None => format!(
                "accesskeyid={}, uuid={}, {users_base}",
                self.id, self.account_uuid
            ),
            Some(sub) => format!(
                "accesskeyid={}, uuid={sub}, uuid={}, {users_base}",
                self.id, self.account_uuid
            ),
        }
    }
}

/// What the store knows about an id.
pub(crate) enum Resolved {
    /// Not in the store.
    Unknown,
    /// Present more than once (under different owners): authenticates
    /// nobody (fail closed).
    Ambiguous,
    /// Known, but does not authenticate (not Active, owner disabled or
    /// missing, temporary).
    Unusable,
    /// Known and usable.
    Usable(Credential),
}

/// People and keys. An id maps to every entry that carries it: more than
/// one is a duplicate (the same id under two owners), which authenticates
/// nobody.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub people: HashMap<String, Person>,
    keys: HashMap<AccessKeyId, Vec<KeyRecord>>,
}

impl Store {
    /// Inserts or replaces the entry of `k` (same id and owner). Returns the
    /// other entries with the same id: non-empty means the id is now
    /// ambiguous.
    pub fn insert_key(&mut self, k: KeyRecord) -> Vec<KeyRecord> {
        let v = self.keys.entry(k.id.clone()).or_default();
        match v.iter_mut().find(|e| e.same_entry(&k)) {
            Some(e) => *e = k.clone(),
            None => v.push(k.clone()),
        }
        v.iter().filter(|e| !e.same_entry(&k)).cloned().collect()
    }

    /// Removes the entry of `id` owned by (`account`, `subuser`).
    pub fn remove_key(&mut self, id: &AccessKeyId, account: &str, subuser: Option<&str>) {
        if let Some(v) = self.keys.get_mut(id) {
            v.retain(|e| !(e.account_uuid == account && e.subuser_uuid.as_deref() == subuser));
            if v.is_empty() {
                self.keys.remove(id);
            }
        }
    }

    /// The entry of `id` owned by (`account`, `subuser`).
    pub fn key_mut(
        &mut self,
        id: &AccessKeyId,
        account: &str,
        subuser: Option<&str>,
    ) -> Option<&mut KeyRecord> {
        self.keys
            .get_mut(id)?
            .iter_mut()
            .find(|e| e.account_uuid == account && e.subuser_uuid.as_deref() == subuser)
    }

    /// Distinct ids held.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Ids held more than once.
    pub fn duplicate_ids(&self) -> usize {
        self.keys.values().filter(|v| v.len() > 1).count()
    }

    pub fn resolve(&self, id: &AccessKeyId) -> Resolved {
        let k = match self.keys.get(id).map(Vec::as_slice) {
            None | Some([]) => return Resolved::Unknown,
            Some([k]) => k,
            Some(_) => return Resolved::Ambiguous,
        };
        if k.status != KeyStatus::Active || k.temporary {
            return Resolved::Unusable;
        }
        let Some(acct) = self.people.get(&k.account_uuid) else {
            return Resolved::Unusable;
        };
        if acct.disabled {
            return Resolved::Unusable;
        }
        let subuser = match &k.subuser_uuid {
            None => None,
            Some(sub_uuid) => match self.people.get(sub_uuid) {
                Some(p) if !p.disabled => Some(SubUser {
                    uuid: sub_uuid.clone(),
                    login: p.login.clone(),
                }),
                _ => return Resolved::Unusable,
            },
        };
        Resolved::Usable(Credential {
            access_key_id: k.id.clone(),
            secret: k.secret.clone(),
            account: Account {
                uuid: k.account_uuid.clone(),
                login: acct.login.clone(),
            },
            subuser,
            status: k.status,
        })
    }
}

/// A sub-user's bare login: UFDS may store `<account-uuid>/<login>`.
pub(crate) fn bare_login(login: &str, account_uuid: Option<&str>) -> String {
    match (account_uuid, login.split_once('/')) {
        (Some(acct), Some((prefix, rest))) if prefix.eq_ignore_ascii_case(acct) => rest.to_owned(),
        _ => login.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (Store, AccessKeyId) {
        let id: AccessKeyId = "0123456789abcdef0123456789abcdef".parse().unwrap();
        let mut s = Store::default();
        s.people.insert(
            "A".into(),
            Person {
                login: "acct".into(),
                disabled: false,
            },
        );
        s.people.insert(
            "S".into(),
            Person {
                login: "sub".into(),
                disabled: false,
            },
        );
        s.insert_key(KeyRecord {
            id: id.clone(),
            secret: SecretKey::new("s".into()),
            status: KeyStatus::Active,
            account_uuid: "A".into(),
            subuser_uuid: Some("S".into()),
            description: None,
            updated: None,
            temporary: false,
        });
        (s, id)
    }

    #[test]
    fn resolution_rules() {
        let (mut s, id) = store();
        let Resolved::Usable(c) = s.resolve(&id) else {
            panic!("usable")
        };
        assert_eq!(c.account.login, "acct");
        assert_eq!(c.subuser.unwrap().login, "sub");
        s.people.get_mut("S").unwrap().disabled = true;
        assert!(matches!(s.resolve(&id), Resolved::Unusable));
        s.people.get_mut("S").unwrap().disabled = false;
        s.people.get_mut("A").unwrap().disabled = true;
        assert!(matches!(s.resolve(&id), Resolved::Unusable));
        s.people.get_mut("A").unwrap().disabled = false;
        s.key_mut(&id, "A", Some("S")).unwrap().status = KeyStatus::Inactive;
        assert!(matches!(s.resolve(&id), Resolved::Unusable));
        s.remove_key(&id, "A", Some("S"));
        assert!(matches!(s.resolve(&id), Resolved::Unknown));
    }

    #[test]
    fn duplicate_ids_authenticate_nobody() {
        let (mut s, id) = store();
        let mut other = s.keys[&id][0].clone();
        other.subuser_uuid = None;
        // Re-inserting the same entry is not a duplicate.
        assert!(s.insert_key(s.keys[&id][0].clone()).is_empty());
        assert_eq!(s.insert_key(other).len(), 1);
        assert!(matches!(s.resolve(&id), Resolved::Ambiguous));
        assert_eq!(s.duplicate_ids(), 1);
        s.remove_key(&id, "A", None);
        assert!(matches!(s.resolve(&id), Resolved::Usable(_)));
        assert_eq!(s.duplicate_ids(), 0);
    }

    #[test]
    fn subuser_login_prefix() {
        assert_eq!(bare_login("A/bob", Some("a")), "bob");
        assert_eq!(bare_login("bob", Some("a")), "bob");
        assert_eq!(bare_login("x/bob", Some("a")), "x/bob");
        assert_eq!(bare_login("A/bob", None), "A/bob");
    }
}
