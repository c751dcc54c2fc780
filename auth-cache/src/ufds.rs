//! UFDS's data model, independent of the wire: DNs, entries (from a search or
//! from the changelog's JSON), and the changelog's changes.
//!
//! Everything here is defensive: a directory entry that does not have the
//! expected shape becomes an `Err(reason)` that the caller logs and skips.

use std::collections::HashMap;

use serde_json::Value;

use crate::store::{bare_login, KeyRecord, Person, Store};
use crate::types::{AccessKeyId, KeyStatus, SecretKey};

/// Attribute names (lower-case) → values.
pub(crate) type Attrs = HashMap<String, Vec<String>>;

/// What an entry's DN says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `accesskeyid=<id>, uuid=<acct>, <users>` or
    /// `accesskeyid=<id>, uuid=<sub>, uuid=<acct>, <users>`.
    Key {
        id: AccessKeyId,
        account: String,
        subuser: Option<String>,
    },
    /// `uuid=<acct>, <users>` or `uuid=<sub>, uuid=<acct>, <users>`.
    Person {
        uuid: String,
        account: Option<String>,
    },
    /// Anything else (groups, the users base itself, other trees).
    Other,
}

/// Splits a DN into lower-cased attribute names and values. UFDS writes
/// `a=b, c=d`; the values we use (uuids, key ids) never need escaping, so an
/// escaped DN is simply not one of ours.
fn rdns(dn: &str) -> Option<Vec<(String, String)>> {
    if dn.contains('\\') || dn.contains('+') {
        return None;
    }
    dn.split(',')
        .map(|rdn| {
            let (a, v) = rdn.split_once('=')?;
            Some((a.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect()
}

/// Parses a DN relative to the users base (both normalised the same way).
pub(crate) fn classify(dn: &str, users_base: &str) -> Target {
    let (Some(dn), Some(base)) = (rdns(dn), rdns(users_base)) else {
        return Target::Other;
    };
    let base: Vec<(String, String)> = base
        .into_iter()
        .map(|(a, v)| (a, v.to_ascii_lowercase()))
        .collect();
    if dn.len() <= base.len() {
        return Target::Other;
    }
    let (head, tail) = dn.split_at(dn.len() - base.len());
    let tail_matches = tail
        .iter()
        .zip(&base)
        .all(|((a, v), (ba, bv))| a == ba && v.to_ascii_lowercase() == *bv);
    if !tail_matches {
        return Target::Other;
    }
    let uuids: Option<Vec<String>> = head
        .iter()
        .skip(usize::from(head[0].0 == "accesskeyid"))
        .map(|(a, v)| (a == "uuid").then(|| v.to_ascii_lowercase()))
        .collect();
    let Some(uuids) = uuids else {
        return Target::Other;
    };
    // uuids is innermost first: [sub, acct] or [acct].
    let (account, subuser) = match uuids.as_slice() {
        [acct] => (acct.clone(), None),
        [sub, acct] => (acct.clone(), Some(sub.clone())),
        _ => return Target::Other,
    };
    if head[0].0 == "accesskeyid" {
        match head[0].1.parse() {
            Ok(id) => Target::Key {
                id,
                account,
                subuser,
            },
            Err(_) => Target::Other,
        }
    } else {
        Target::Person {
            uuid: subuser.clone().unwrap_or_else(|| account.clone()),
            account: subuser.map(|_| account),
        }
    }
}

fn first<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs.get(name).and_then(|v| v.first()).map(String::as_str)
}

fn has_class(attrs: &Attrs, class: &str) -> bool {
    attrs
        .get("objectclass")
        .is_some_and(|v| v.iter().any(|c| c.eq_ignore_ascii_case(class)))
}

/// Builds a key record from its attributes and its DN's owner.
pub(crate) fn key_from_attrs(
    attrs: &Attrs,
    id: &AccessKeyId,
    account: &str,
    subuser: Option<&str>,
) -> Result<KeyRecord, String> {
    match first(attrs, "accesskeyid") {
        Some(v) if v == id.as_str() => {}
        Some(_) => return Err("accesskeyid differs from the DN".into()),
        None => return Err("no accesskeyid".into()),
    }
    let secret = first(attrs, "accesskeysecret").ok_or("no accesskeysecret")?;
    if secret.is_empty() {
        return Err("empty accesskeysecret".into());
    }
    // ufds.md: a key without status (old releases) counts as Inactive; an
    // unknown value does not authenticate either.
    let status = match first(attrs, "status") {
        None => KeyStatus::Inactive,
        Some(s) => KeyStatus::parse(s).ok_or_else(|| format!("unknown status {s:?}"))?,
    };
    Ok(KeyRecord {
        id: id.clone(),
        secret: SecretKey::new(secret.to_owned()),
        status,
        account_uuid: account.to_owned(),
        subuser_uuid: subuser.map(str::to_owned),
        description: first(attrs, "description").map(str::to_owned),
        updated: first(attrs, "updated").and_then(|v| v.parse().ok()),
        temporary: first(attrs, "credentialtype") == Some("temporary"),
    })
}

/// Builds a person from its attributes.
pub(crate) fn person_from_attrs(attrs: &Attrs, account: Option<&str>) -> Result<Person, String> {
    if !has_class(attrs, "sdcperson") {
        return Err("not an sdcPerson".into());
    }
    // A sub-user's `alias` is its bare login; its `login` may carry the
    // account uuid as a prefix.
    let login = match (account, first(attrs, "alias")) {
        (Some(_), Some(alias)) => alias.to_owned(),
        _ => bare_login(first(attrs, "login").ok_or("no login")?, account),
    };
    Ok(Person {
        login,
        disabled: first(attrs, "disabled").is_some_and(|d| d.eq_ignore_ascii_case("true")),
    })
}

/// Inserts an entry from a search into the store (or says why not).
pub(crate) fn insert_entry(
    store: &mut Store,
    dn: &str,
    attrs: &Attrs,
    users_base: &str,
) -> Result<(), String> {
    match classify(dn, users_base) {
        Target::Key {
            id,
            account,
            subuser,
        } => {
            let k = key_from_attrs(attrs, &id, &account, subuser.as_deref())?;
            let others = store.insert_key(k);
            if !others.is_empty() {
                let other_dns: Vec<String> = others.iter().map(|o| o.dn(users_base)).collect();
                tracing::error!(
                    access_key_id = %id, %dn, other_dns = ?other_dns,
                    "DUPLICATE access key id in the directory: it authenticates nobody until all but one entry are removed"
                );
            }
        }
        Target::Person { uuid, account } => {
            let p = person_from_attrs(attrs, account.as_deref())?;
            store.people.insert(uuid, p);
        }
        Target::Other => {}
    }
    Ok(())
}

/// Lower-cases attribute names of a search entry's map.
pub(crate) fn normalise(attrs: HashMap<String, Vec<String>>) -> Attrs {
    attrs
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// UFDS's JSON form of an entry: `{"attr": ["v", ...]}` (a bare string is
/// accepted too).
pub(crate) fn attrs_from_json(v: &Value) -> Result<Attrs, String> {
    let obj = v.as_object().ok_or("entry JSON is not an object")?;
    let mut out = Attrs::new();
    for (k, v) in obj {
        out.insert(k.to_ascii_lowercase(), json_values(v)?);
    }
    Ok(out)
}

fn json_values(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        Value::Bool(b) => Ok(vec![b.to_string()]),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                _ => Err("attribute value is not a scalar".to_string()),
            })
            .collect(),
        _ => Err("attribute value is not a string or list".into()),
    }
}

/// One modification of a changelog `modify` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Modification {
    /// `replace`, `add` or `delete`.
    pub operation: String,
    /// Attribute name, lower-case.
    pub attr: String,
    pub vals: Vec<String>,
}

/// Parses a `modify` record's `changes`:
/// `[{"operation":"replace","modification":{"type":"status","vals":["Inactive"]}}]`.
pub(crate) fn parse_modifications(changes: &str) -> Result<Vec<Modification>, String> {
    let v: Value = serde_json::from_str(changes).map_err(|e| format!("changes JSON: {e}"))?;
    let list = v.as_array().ok_or("modify changes are not a list")?;
    list.iter()
        .map(|m| {
            let operation = m
                .get("operation")
                .and_then(Value::as_str)
                .ok_or("modification without operation")?
                .to_ascii_lowercase();
            let md = m.get("modification").ok_or("modification without body")?;
            let attr = md
                .get("type")
                .and_then(Value::as_str)
                .ok_or("modification without type")?
                .to_ascii_lowercase();
            let vals = match md.get("vals") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => json_values(v)?,
            };
            Ok(Modification {
                operation,
                attr,
                vals,
            })
        })
        .collect()
}

/// Applies modifications to a key the store knows. Every modification is
/// looked at, wherever it stands in the list (mahi only read the first).
pub(crate) fn modify_key(k: &mut KeyRecord, mods: &[Modification]) -> Result<(), String> {
    for m in mods {
        let value = match m.operation.as_str() {
            "replace" | "add" => m.vals.first().cloned(),
            "delete" => None,
            other => return Err(format!("unknown operation {other:?}")),
        };
        match m.attr.as_str() {
            "status" => {
                k.status = match value {
                    // A key without status counts as Inactive (ufds.md).
                    None => KeyStatus::Inactive,
                    Some(s) => {
                        KeyStatus::parse(&s).ok_or_else(|| format!("unknown status {s:?}"))?
                    }
                }
            }
            "description" => k.description = value,
            "updated" => k.updated = value.and_then(|v| v.parse().ok()),
            "credentialtype" => k.temporary = value.as_deref() == Some("temporary"),
            // UFDS makes the secret read-only; should one change anyway, take it.
            "accesskeysecret" => match value {
                Some(s) if !s.is_empty() => k.secret = SecretKey::new(s),
                _ => return Err("accesskeysecret removed".into()),
            },
            _ => {}
        }
    }
    Ok(())
}

/// Applies modifications to a person the store knows.
pub(crate) fn modify_person(
    p: &mut Person,
    account: Option<&str>,
    mods: &[Modification],
) -> Result<(), String> {
    for m in mods {
        let value = match m.operation.as_str() {
            "replace" | "add" => m.vals.first().cloned(),
            "delete" => None,
            other => return Err(format!("unknown operation {other:?}")),
        };
        match m.attr.as_str() {
            "login" => {
                if let Some(l) = value {
                    // For a sub-user, `alias` wins when both change.
                    p.login = bare_login(&l, account);
                }
            }
            "alias" if account.is_some() => {
                if let Some(a) = value {
                    p.login = a;
                }
            }
            "disabled" => p.disabled = value.is_some_and(|d| d.eq_ignore_ascii_case("true")),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "ou=users, o=smartdc";

    #[test]
    fn classify_dns() {
        let t = classify(
            "accesskeyid=ef6358afcebdade99a8829f03cdcba93, uuid=BDE5, ou=users, o=smartdc",
            BASE,
        );
        assert_eq!(
            t,
            Target::Key {
                id: "ef6358afcebdade99a8829f03cdcba93".parse().unwrap(),
                account: "bde5".into(),
                subuser: None
            }
        );
        let t = classify(
            "accesskeyid=88a97bb663dc71a6673850eadaac3ccf,uuid=sub,uuid=acct,ou=users,o=smartdc",
            BASE,
        );
        assert!(
            matches!(t, Target::Key { subuser: Some(ref s), ref account, .. } if s == "sub" && account == "acct")
        );
        assert_eq!(
            classify("uuid=acct, ou=users, o=smartdc", BASE),
            Target::Person {
                uuid: "acct".into(),
                account: None
            }
        );
        assert_eq!(
            classify("uuid=sub, uuid=acct, ou=Users, o=SmartDC", BASE),
            Target::Person {
                uuid: "sub".into(),
                account: Some("acct".into())
            }
        );
        assert_eq!(classify("ou=users, o=smartdc", BASE), Target::Other);
        assert_eq!(
            classify("cn=operators, ou=groups, o=smartdc", BASE),
            Target::Other
        );
        assert_eq!(classify("vm=x, o=smartdc", BASE), Target::Other);
        assert_eq!(
            classify("accesskeyid=short, uuid=a, ou=users, o=smartdc", BASE),
            Target::Other
        );
        assert_eq!(
            classify("cn=x, uuid=a, ou=users, o=smartdc", BASE),
            Target::Other
        );
    }

    #[test]
    fn status_anywhere_in_the_list() {
        let mods = parse_modifications(
            r#"[{"operation":"replace","modification":{"type":"updated","vals":["5"]}},
                {"operation":"replace","modification":{"type":"description","vals":["d"]}},
                {"operation":"replace","modification":{"type":"status","vals":["Inactive"]}}]"#,
        )
        .unwrap();
        let mut k = KeyRecord {
            id: "0123456789abcdef".parse().unwrap(),
            secret: SecretKey::new("s".into()),
            status: KeyStatus::Active,
            account_uuid: "a".into(),
            subuser_uuid: None,
            description: None,
            updated: None,
            temporary: false,
        };
        modify_key(&mut k, &mods).unwrap();
        assert_eq!(k.status, KeyStatus::Inactive);
        assert_eq!(k.updated, Some(5));
        assert_eq!(k.description.as_deref(), Some("d"));
    }

    #[test]
    fn malformed_changes_are_errors() {
        assert!(parse_modifications("not json").is_err());
        assert!(parse_modifications("{}").is_err());
        assert!(parse_modifications(r#"[{"operation":"replace"}]"#).is_err());
        assert!(attrs_from_json(&serde_json::json!([1])).is_err());
        let a = attrs_from_json(&serde_json::json!({"AccessKeyId": ["x"], "n": 3})).unwrap();
        assert_eq!(a["accesskeyid"], vec!["x"]);
        assert_eq!(a["n"], vec!["3"]);
    }
}
