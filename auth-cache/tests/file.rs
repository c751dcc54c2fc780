//! The static keys file source and its administration.

mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::wait_until;
use s3gw_auth_cache::{
    Account, FileKeyAdmin, FileSourceConfig, KeyAdmin, KeyCache, KeyOwner, KeySourceConfig,
    KeyStatus, SubUser,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_file_load_reload_and_admin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    std::fs::write(
        &path,
        r#"
[[keys]]
access_key_id = "AKIAIOSFODNN7EXAMPLE"
secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
account_login = "dev"
account_uuid = "11111111-1111-1111-1111-111111111111"

[[keys]]
access_key_id = "SUBUSERKEY000000"
secret = "subsecret"
account_login = "dev"
account_uuid = "11111111-1111-1111-1111-111111111111"
subuser_login = "ci"
subuser_uuid = "22222222-2222-2222-2222-222222222222"
description = "ci"

[[keys]]
access_key_id = "OFFKEY0000000000"
secret = "x"
account_login = "dev"
account_uuid = "11111111-1111-1111-1111-111111111111"
status = "Inactive"

[[keys]]
access_key_id = "bad id"
secret = "x"
account_login = "dev"
account_uuid = "11111111-1111-1111-1111-111111111111"
"#,
    )
    .unwrap();
    let mut cfg = FileSourceConfig::new(&path);
    cfg.reload_interval = std::time::Duration::from_millis(100);
    let cache = KeyCache::start(KeySourceConfig::File(cfg)).await.unwrap();
    assert!(cache.is_ready());
    assert_eq!(cache.stats().keys_cached, 3, "the invalid id is skipped");
    let id = "AKIAIOSFODNN7EXAMPLE".parse().unwrap();
    let c = cache.lookup(&id).await.unwrap().unwrap();
    assert_eq!(
        c.secret.expose_str(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    );
    assert_eq!(c.account.login, "dev");
    let c = cache
        .lookup(&"SUBUSERKEY000000".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.subuser.as_ref().unwrap().login, "ci");
    assert!(cache
        .lookup(&"OFFKEY0000000000".parse().unwrap())
        .await
        .unwrap()
        .is_none());
    assert!(cache
        .lookup(&"UNKNOWNKEY000000".parse().unwrap())
        .await
        .unwrap()
        .is_none());

    // Administration rewrites the file; the cache reloads it.
    let admin = FileKeyAdmin::new(&path);
    let owner = KeyOwner::account("dev");
    let new = admin.create(&owner, Some("new")).await.unwrap();
    assert!(s3gw_auth_cache::secret_format_ok(new.secret.expose_str()));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (c2, nid) = (cache.clone(), new.access_key_id.clone());
    wait_until("reload after create", move || {
        let (c, id) = (c2.clone(), nid.clone());
        async move { matches!(c.lookup(&id).await, Ok(Some(_))) }
    })
    .await;
    let listed = admin.list(&owner).await.unwrap();
    assert_eq!(listed.len(), 3); // the bad-id entry is not listed; the sub-user's key is not dev's own
    admin
        .set_status(&owner, &new.access_key_id, KeyStatus::Inactive)
        .await
        .unwrap();
    let (c2, nid) = (cache.clone(), new.access_key_id.clone());
    wait_until("reload after Inactive", move || {
        let (c, id) = (c2.clone(), nid.clone());
        async move { matches!(c.lookup(&id).await, Ok(None)) }
    })
    .await;
    admin.delete(&owner, &new.access_key_id).await.unwrap();
    assert!(admin
        .list(&owner)
        .await
        .unwrap()
        .iter()
        .all(|k| k.access_key_id != new.access_key_id));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(new.secret.expose_str()));

    // A broken file keeps the previous keys.
    std::fs::write(&path, "[[keys]\nbroken").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await; // several reload ticks (not sync: asserting nothing changed)
    assert!(cache.lookup(&id).await.unwrap().is_some());
    cache.shutdown().await;
}

#[tokio::test]
async fn first_dev_key_into_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("keys.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let admin = FileKeyAdmin::new(&path);
    let acct = Account {
        uuid: "33333333-3333-3333-3333-333333333333".into(),
        login: "dev".into(),
    };
    let new = admin
        .create_for(&acct, None, Some("development key"))
        .await
        .unwrap();
    let sub = SubUser {
        uuid: "44444444-4444-4444-4444-444444444444".into(),
        login: "ci".into(),
    };
    admin.create_for(&acct, Some(&sub), None).await.unwrap();
    let cache = KeyCache::start(KeySourceConfig::File(FileSourceConfig::new(&path)))
        .await
        .unwrap();
    let c = cache.lookup(&new.access_key_id).await.unwrap().unwrap();
    assert!(c.secret.ct_eq(&new.secret));
    assert_eq!(
        admin
            .list(&KeyOwner::subuser("dev", "ci"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        KeyCache::start(KeySourceConfig::File(FileSourceConfig::new(dir.path())))
            .await
            .is_err()
    );
}
