//! The keyring that seals channel secrets (and the gateway's signing keys):
//! where it comes from, and the check that it opens what the database holds.
//!
//! - On SQLite (the one-command setup) a key file generated at the first
//!   start, readable by its owner only, is the default. On a shared database
//!   (MySQL, MariaDB) every process must be given the same key: a key file
//!   generated on one host is not on the others, and a notification sealed
//!   by one process could not be opened by the next.
//! - The first process to start seals a known value into `key_checks`; every
//!   later one opens it, or refuses to start naming the key it lacks.

use std::{
    fs,
    io::{ErrorKind, Write},
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

use sea_orm::DbErr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, Set, sea_query::Expr,
};

use crate::{
    config::{ConfigError, NotifySettings},
    crypto::{CryptoError, Keyring},
    entity::{notification_channel, oauth_signing_key},
};

/// Why a process cannot have the installation's keyring.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// No key, a malformed one, or not the installation's: names the setting.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database operation failed")]
    Database(#[from] DbErr),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

type Result<T, E = KeyringError> = std::result::Result<T, E>;

/// The one row of `key_checks`.
mod key_check {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "key_checks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub key_id: String,
        pub sealed: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

const CHECK_ID: &str = "installation";
/// The context the check value is sealed in: it opens nowhere else.
const CHECK_CONTEXT: &str = "key_check:installation";
const CHECK_VALUE: &[u8] = b"monitors-mcp key check";

const SETTING: &str = "encryption_key";

/// The keyring of a process that serves or seals: loaded (see
/// [`load_keyring`]) and checked against the database ([`check_keyring`]).
/// The database must be migrated.
pub async fn open_keyring(settings: &NotifySettings, db: &DatabaseConnection) -> Result<Keyring> {
    let keyring = load_keyring(settings, db.get_database_backend())?;
    check_keyring(db, &keyring).await?;
    Ok(keyring)
}

/// The configured key and older keys; without a configured key, on SQLite,
/// the key file (generated on first use), and on a shared database a
/// refusal that says what to set.
pub fn load_keyring(settings: &NotifySettings, backend: DbBackend) -> Result<Keyring> {
    let previous: Vec<String> = settings
        .encryption_old_keys
        .as_ref()
        .map(|keys| {
            keys.expose()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let current = match &settings.encryption_key {
        Some(key) => key.expose().clone(),
        None if backend == DbBackend::Sqlite => read_or_create(&settings.encryption_key_file)?,
        None => return Err(config(missing_on_shared_database(settings))),
    };
    Keyring::from_base64(&current, &previous).map_err(|e| config(e.to_string()))
}

fn missing_on_shared_database(settings: &NotifySettings) -> String {
    let file = &settings.encryption_key_file;
    let earlier = if file.exists() {
        format!(
            " {} holds a key an earlier start generated: if channels were created with it, use its contents.",
            file.display()
        )
    } else {
        String::new()
    };
    format!(
        "MONITORS_ENCRYPTION_KEY must be set on a shared database (MySQL or MariaDB): every gateway and worker \
must seal and open channel secrets with the same key, and a key file generated on one host is not on the \
others. Generate one with `openssl rand -base64 32` and give the same value to every process.{earlier}"
    )
}

/// Refuses a keyring that cannot open the installation's key check, naming
/// the key it lacks. The first process to start seals the check under its
/// key, after making sure it can open every secret already stored (an
/// installation from before the check).
pub async fn check_keyring(db: &DatabaseConnection, keyring: &Keyring) -> Result<()> {
    let row = match key_check::Entity::find_by_id(CHECK_ID).one(db).await? {
        Some(row) => row,
        None => {
            refuse_unopenable_secrets(db, keyring).await?;
            let row = key_check::ActiveModel {
                id: Set(CHECK_ID.to_owned()),
                key_id: Set(keyring.current_key_id().to_owned()),
                sealed: Set(keyring
                    .seal(CHECK_VALUE, CHECK_CONTEXT)
                    .map_err(|e| config(e.to_string()))?),
            };
            match row.insert(db).await {
                Ok(_) => {
                    tracing::info!(
                        key_id = keyring.current_key_id(),
                        "this installation's secrets are sealed under this key from now on"
                    );
                    return Ok(());
                }
                // Another process started at the same moment and sealed
                // first: its check is the one to open.
                Err(error) => key_check::Entity::find_by_id(CHECK_ID)
                    .one(db)
                    .await?
                    .ok_or(error)?,
            }
        }
    };
    match keyring.open(&row.sealed, CHECK_CONTEXT) {
        Ok(value) if value == CHECK_VALUE => Ok(()),
        Ok(_) => Err(config(
            "the database's key check opened but holds another value; it was altered".to_owned(),
        )),
        Err(CryptoError::UnknownKey(id)) => Err(config(lacks_key(&id, keyring))),
        Err(error) => Err(config(format!(
            "the database's key check, sealed under key {}, does not open with this process's key of that id ({error})",
            row.key_id
        ))),
    }
}

/// Seals the key check under the keyring's current key, if an older key
/// sealed it: `keys rotate` runs this once the secrets are re-sealed, so that
/// processes holding only the old key refuse to start. Returns whether it did.
pub async fn reseal_check(db: &DatabaseConnection, keyring: &Keyring) -> Result<bool> {
    let Some(row) = key_check::Entity::find_by_id(CHECK_ID).one(db).await? else {
        check_keyring(db, keyring).await?;
        return Ok(false);
    };
    if !keyring.is_stale(&row.sealed) {
        return Ok(false);
    }
    check_keyring(db, keyring).await?;
    let sealed = keyring
        .seal(CHECK_VALUE, CHECK_CONTEXT)
        .map_err(|e| config(e.to_string()))?;
    key_check::Entity::update_many()
        .col_expr(key_check::Column::Sealed, Expr::value(sealed))
        .col_expr(
            key_check::Column::KeyId,
            Expr::value(keyring.current_key_id()),
        )
        .filter(key_check::Column::Id.eq(CHECK_ID))
        .filter(key_check::Column::Sealed.eq(row.sealed))
        .exec(db)
        .await?;
    Ok(true)
}

/// Refuses a keyring that lacks a key some stored channel or signing key is
/// sealed under.
async fn refuse_unopenable_secrets(db: &DatabaseConnection, keyring: &Keyring) -> Result<()> {
    let mut stored: Vec<String> = notification_channel::Entity::find()
        .select_only()
        .column(notification_channel::Column::KeyId)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    stored.extend(
        oauth_signing_key::Entity::find()
            .select_only()
            .column(oauth_signing_key::Column::KeyId)
            .distinct()
            .into_tuple::<String>()
            .all(db)
            .await?,
    );
    match stored.iter().find(|id| !keyring.has_key(id)) {
        Some(id) => Err(config(lacks_key(id, keyring))),
        None => Ok(()),
    }
}

fn lacks_key(key_id: &str, keyring: &Keyring) -> String {
    let ours: Vec<&str> = keyring.key_ids().collect();
    let ours = if ours.is_empty() {
        "none".to_owned()
    } else {
        ours.join(", ")
    };
    format!(
        "this installation's secrets are sealed under key {key_id}, which this process does not have \
(its keys: {ours}). Give every gateway and worker the installation's key in MONITORS_ENCRYPTION_KEY; \
after a rotation, keep the earlier key in MONITORS_ENCRYPTION_OLD_KEYS until `mcp-gateway keys rotate` has run"
    )
}

fn config(reason: String) -> KeyringError {
    KeyringError::Config(ConfigError::Invalid {
        key: SETTING,
        reason,
    })
}

fn read_or_create(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(key) => return Ok(key.trim().to_owned()),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(KeyringError::Io {
                context: format!("reading the encryption key {}", path.display()),
                source,
            });
        }
    }
    let io = |context: &str| {
        let context = format!("{context} {}", path.display());
        move |source| KeyringError::Io { context, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io("creating the directory of"))?;
    }
    let key = Keyring::generate_key().map_err(|e| config(e.to_string()))?;
    // create_new: two processes starting together must not each write a key;
    // the loser reads the winner's.
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(key.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io("writing the encryption key"))?;
            tracing::info!(path = %path.display(), "generated an encryption key for channel secrets");
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => fs::read_to_string(path)
            .map(|k| k.trim().to_owned())
            .map_err(io("reading the encryption key")),
        Err(source) => Err(io("creating the encryption key")(source)),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::secret::Secret;

    use super::*;

    fn key_file_in(dir: &Path) -> NotifySettings {
        NotifySettings {
            encryption_key_file: dir.join("data/encryption.key"),
            ..NotifySettings::default()
        }
    }

    #[test]
    fn a_generated_key_is_kept_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let settings = key_file_in(dir.path());
        let first = load_keyring(&settings, DbBackend::Sqlite).unwrap();
        let mode = fs::metadata(&settings.encryption_key_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_keyring(&settings, DbBackend::Sqlite).unwrap();
        assert_eq!(first.current_key_id(), second.current_key_id());
        let sealed = first.seal(b"x", "c").unwrap();
        assert_eq!(second.open(&sealed, "c").unwrap(), b"x");
    }

    #[test]
    fn a_shared_database_needs_a_configured_key_and_writes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let settings = key_file_in(dir.path());
        let err = load_keyring(&settings, DbBackend::MySql).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("configuration encryption_key: MONITORS_ENCRYPTION_KEY must be set on a shared database"),
            "{text}"
        );
        assert!(!text.contains("earlier start"), "{text}");
        assert!(!settings.encryption_key_file.exists());

        // A key file left by an earlier SQLite start is named, not used.
        load_keyring(&settings, DbBackend::Sqlite).unwrap();
        let text = load_keyring(&settings, DbBackend::MySql)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains(&format!(
                "{} holds a key an earlier start generated",
                settings.encryption_key_file.display()
            )),
            "{text}"
        );

        let key = Keyring::generate_key().unwrap();
        let configured = NotifySettings {
            encryption_key: Some(Secret::new(key.clone())),
            ..key_file_in(dir.path())
        };
        let ring = load_keyring(&configured, DbBackend::MySql).unwrap();
        assert_eq!(
            ring.current_key_id(),
            Keyring::from_base64(&key, &[]).unwrap().current_key_id()
        );
    }
}
