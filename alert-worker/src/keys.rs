//! Loading the keyring that seals channel secrets: from the configuration
//! when a key is set, otherwise from a key file that the first start of the
//! one-command setup generates, readable by its owner only.

use std::{
    fs,
    io::{ErrorKind, Write},
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

use shared_models::crypto::Keyring;

use crate::{
    config::NotifySettings,
    error::{Error, Result},
};

pub fn load_keyring(settings: &NotifySettings) -> Result<Keyring> {
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
        None => read_or_create(&settings.encryption_key_file)?,
    };
    Keyring::from_base64(&current, &previous).map_err(|e| Error::Config {
        key: "encryption_key",
        reason: e.to_string(),
    })
}

fn read_or_create(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(key) => return Ok(key.trim().to_owned()),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Io {
                context: format!("reading the encryption key {}", path.display()),
                source,
            });
        }
    }
    let io = |context: &str| {
        let context = format!("{context} {}", path.display());
        move |source| Error::Io { context, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io("creating the directory of"))?;
    }
    let key = Keyring::generate_key().map_err(|e| Error::Config {
        key: "encryption_key",
        reason: e.to_string(),
    })?;
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

    use super::*;

    #[test]
    fn a_generated_key_is_kept_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let settings = NotifySettings {
            encryption_key_file: dir.path().join("data/encryption.key"),
            ..NotifySettings::default()
        };
        let first = load_keyring(&settings).unwrap();
        let mode = fs::metadata(&settings.encryption_key_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_keyring(&settings).unwrap();
        assert_eq!(first.current_key_id(), second.current_key_id());
        let sealed = first.seal(b"x", "c").unwrap();
        assert_eq!(second.open(&sealed, "c").unwrap(), b"x");
    }
}
