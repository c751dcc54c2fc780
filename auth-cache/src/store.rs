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

/// What the store knows about an id.
pub(crate) enum Resolved {
    /// Not in the store.
    Unknown,
    /// Known, but does not authenticate (not Active, owner disabled or
    /// missing, temporary).
    Unusable,
    /// Known and usable.
    Usable(Credential),
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    pub people: HashMap<String, Person>,
    pub keys: HashMap<AccessKeyId, KeyRecord>,
}

impl Store {
    pub fn resolve(&self, id: &AccessKeyId) -> Resolved {
        let Some(k) = self.keys.get(id) else {
            return Resolved::Unknown;
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
        s.keys.insert(
            id.clone(),
            KeyRecord {
                id: id.clone(),
                secret: SecretKey::new("s".into()),
                status: KeyStatus::Active,
                account_uuid: "A".into(),
                subuser_uuid: Some("S".into()),
                description: None,
                updated: None,
                temporary: false,
            },
        );
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
        s.keys.get_mut(&id).unwrap().status = KeyStatus::Inactive;
        assert!(matches!(s.resolve(&id), Resolved::Unusable));
        s.keys.clear();
        assert!(matches!(s.resolve(&id), Resolved::Unknown));
    }

    #[test]
    fn subuser_login_prefix() {
        assert_eq!(bare_login("A/bob", Some("a")), "bob");
        assert_eq!(bare_login("bob", Some("a")), "bob");
        assert_eq!(bare_login("x/bob", Some("a")), "x/bob");
        assert_eq!(bare_login("A/bob", None), "A/bob");
    }
}
