//! `alert-worker` started as an operator starts it, the real binary in an
//! empty directory: what it refuses and says at start, and what the
//! read-only `status` leaves behind (nothing).

use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use alert_worker::testing::{Backend, TestDb, within};
use migrations::{Migrator, MigratorTrait};
use sea_orm::Database;
use shared_models::{config::NotifySettings, keys::open_keyring};
use shared_models::{crypto::Keyring, secret::Secret};

use crate::support::one_at_a_time;

const START: Duration = Duration::from_secs(30);

/// `alert-worker <args>` in `dir` with nothing but `env`, its output kept.
fn worker(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_alert-worker"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("MONITORS_METRICS_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the worker binary starts")
}

/// Waits for a process that should stop on its own, and returns its output.
async fn finished(mut child: Child) -> Output {
    within("the worker exits", START, async || {
        child
            .try_wait()
            .unwrap()
            .map(|_| ())
            .ok_or_else(|| "still running".to_owned())
    })
    .await;
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The database migrated, and its key check sealed under `key`, as the
/// first process to start leaves it.
async fn installation_sealed_under(url: &str, key: &str) {
    let db = Database::connect(url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    let settings = NotifySettings {
        encryption_key: Some(Secret::new(key.to_owned())),
        ..NotifySettings::default()
    };
    open_keyring(&settings, &db).await.unwrap();
}

fn key_id(key: &str) -> String {
    Keyring::from_base64(key, &[])
        .unwrap()
        .current_key_id()
        .to_owned()
}

#[tokio::test]
async fn on_a_shared_database_a_worker_without_a_key_refuses_to_start() {
    let _serial = one_at_a_time().await;
    let (_db, url) = TestDb::create(Backend::MariaDb).await;
    let dir = tempfile::tempdir().unwrap();
    let output = finished(worker(
        dir.path(),
        &["run"],
        &[("MONITORS_DATABASE_URL", &url)],
    ))
    .await;
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.starts_with(
            "alert-worker: configuration encryption_key: MONITORS_ENCRYPTION_KEY must be set on a shared database (MySQL or MariaDB)"
        ),
        "{text}"
    );
    assert!(text.contains("openssl rand -base64 32"), "{text}");
    assert!(
        !dir.path().join("data").exists(),
        "no key file is generated for a shared database"
    );
}

async fn a_worker_with_another_key_refuses_naming_the_key_it_lacks(backend: Backend) {
    let _serial = one_at_a_time().await;
    let (_db, url) = TestDb::create(backend).await;
    let installation = Keyring::generate_key().unwrap();
    installation_sealed_under(&url, &installation).await;
    let dir = tempfile::tempdir().unwrap();
    let other = Keyring::generate_key().unwrap();

    let output = finished(worker(
        dir.path(),
        &["run"],
        &[
            ("MONITORS_DATABASE_URL", &url),
            ("MONITORS_ENCRYPTION_KEY", &other),
        ],
    ))
    .await;
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.starts_with(&format!(
            "alert-worker: configuration encryption_key: this installation's secrets are sealed under key {}, which this process does not have (its keys: {})",
            key_id(&installation),
            key_id(&other),
        )),
        "{text}"
    );

    // With the installation's key among its old keys it starts, and its
    // plain-text log, written to a pipe, carries no colour codes.
    let mut child = worker(
        dir.path(),
        &["run"],
        &[
            ("MONITORS_DATABASE_URL", &url),
            ("MONITORS_ENCRYPTION_KEY", &other),
            ("MONITORS_ENCRYPTION_OLD_KEYS", &installation),
            ("MONITORS_AUTO_MIGRATE", "false"),
        ],
    );
    let log = read_until(&mut child, "serving metrics and health").await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log:\n{log}"
    );
    assert!(log.contains(" INFO "), "{log}");
}

alert_worker::on_both_backends!(a_worker_with_another_key_refuses_naming_the_key_it_lacks);

/// Standard error of a running process up to the line holding `marker`.
async fn read_until(child: &mut Child, marker: &str) -> String {
    use std::io::{BufRead, BufReader};

    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    within(&format!("the worker logs {marker:?}"), START, async || {
        lines.extend(rx.try_iter());
        if lines.iter().any(|l: &String| l.contains(marker)) {
            Ok(())
        } else {
            Err(lines.join("\n"))
        }
    })
    .await;
    lines.join("\n")
}

#[tokio::test]
async fn status_reads_and_creates_no_key_file() {
    let _serial = one_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let output = finished(worker(dir.path(), &["status"], &[])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("shards without a current lease: "),
        "{stdout}"
    );
    assert!(
        !dir.path().join("data/encryption.key").exists(),
        "status wrote a key file"
    );
}
