//! Migration 000006: the rule listing's covering index, up and down on both
//! databases, and the listing query planned on it. Migration 000007: metric
//! names that compare byte for byte on MariaDB, up, down and up again.

use alert_worker::{CatalogRequest, MetricSource, testing::BuiltinSource};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Set, Statement};
use shared_models::{entity::point, ids::UserId};

use crate::support::{Backend, TestDb, on_both_backends};

on_both_backends!(
    the_listing_index_replaces_the_owner_index_and_rolls_back,
    metric_names_compare_byte_for_byte_and_roll_back,
);

/// How many migrations `Migrator::down` undoes to undo `name` and every
/// migration after it.
fn steps_back_to(name: &str) -> u32 {
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let at = names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no migration {name} in {names:?}"));
    u32::try_from(names.len() - at).expect("a few migrations")
}

/// The columns of each index on alert_rules that starts with owner_id.
async fn owner_indexes(db: &DatabaseConnection) -> Vec<(String, Vec<String>)> {
    let sql = match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            "SELECT il.name, ii.name FROM pragma_index_list('alert_rules') AS il \
             JOIN pragma_index_info(il.name) AS ii ORDER BY il.name, ii.seqno"
        }
        _ => {
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'alert_rules' \
             ORDER BY INDEX_NAME, SEQ_IN_INDEX"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("index listing");
    let mut indexes: Vec<(String, Vec<String>)> = Vec::new();
    for row in rows {
        let index: String = row.try_get_by_index(0).expect("index name");
        let column: String = row.try_get_by_index(1).expect("column name");
        match indexes.last_mut() {
            Some((name, columns)) if *name == index => columns.push(column),
            _ => indexes.push((index, vec![column])),
        }
    }
    indexes.retain(|(_, columns)| columns.first().map(String::as_str) == Some("owner_id"));
    indexes
}

fn named(name: &str, columns: &[&str]) -> (String, Vec<String>) {
    (
        name.to_owned(),
        columns.iter().map(|c| (*c).to_owned()).collect(),
    )
}

async fn the_listing_index_replaces_the_owner_index_and_rolls_back(backend: Backend) {
    let (_db, url) = TestDb::create(backend).await;
    let db = shared_models::db::connect(&url, 2).await.expect("connect");
    Migrator::up(&db, None).await.expect("migrate up");
    let covering = named(
        "idx_alert_rules_owner_id_version",
        &["owner_id", "id", "version"],
    );
    assert_eq!(owner_indexes(&db).await, vec![covering.clone()]);

    Migrator::down(
        &db,
        Some(steps_back_to("m20261203_000006_cover_rule_listing")),
    )
    .await
    .expect("migrate down to before 000006");
    assert_eq!(
        owner_indexes(&db).await,
        vec![named("idx_alert_rules_owner_id", &["owner_id", "id"])]
    );
    Migrator::up(&db, None).await.expect("migrate up again");
    assert_eq!(owner_indexes(&db).await, vec![covering]);

    if let Backend::Sqlite = backend {
        // The listing's own shape: no lookup into the table for any rule.
        let plan = db
            .query_all_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "EXPLAIN QUERY PLAN SELECT r.id, r.version, s.state FROM alert_rules r \
                 LEFT JOIN rule_status s ON r.id = s.rule_id \
                 WHERE r.owner_id = 'u' ORDER BY r.id DESC LIMIT 51",
            ))
            .await
            .expect("query plan");
        let steps: Vec<String> = plan
            .iter()
            .map(|row| row.try_get_by_index(3).expect("plan detail"))
            .collect();
        assert!(
            steps[0].contains("COVERING INDEX idx_alert_rules_owner_id_version"),
            "{steps:?}"
        );
    }
}

const EXACT_NAMES: &str = "m20261210_000007_exact_metric_names";

/// Names that differ only in case or in a trailing space.
const NAMES: [&str; 3] = ["cpu", "CPU", "cpu "];

/// What `list_metrics` lists for `owner`: each measurement with its fields
/// and its `host` tag values.
async fn listed(db: &DatabaseConnection, owner: UserId) -> Vec<(String, Vec<String>, Vec<String>)> {
    let catalog = BuiltinSource::new(db.clone(), "monitors".to_owned())
        .catalog(&CatalogRequest {
            owner,
            database: None,
            prefix: None,
            measurements_limit: 100,
            values_limit: 100,
            describe: true,
        })
        .await
        .expect("catalog");
    catalog
        .measurements
        .into_iter()
        .map(|m| {
            let hosts = m.tags.get("host").cloned().unwrap_or_default();
            (m.name, m.fields, hosts)
        })
        .collect()
}

/// The collation of each name column of `points` (MariaDB only).
async fn collations(db: &DatabaseConnection) -> Vec<(String, String)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DatabaseBackend::MySql,
            "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'points' \
             AND COLLATION_NAME IS NOT NULL AND COLUMN_NAME <> 'owner_id' ORDER BY COLUMN_NAME",
        ))
        .await
        .expect("column collations");
    rows.iter()
        .map(|row| {
            (
                row.try_get_by_index(0).expect("column"),
                row.try_get_by_index(1).expect("collation"),
            )
        })
        .collect()
}

async fn metric_names_compare_byte_for_byte_and_roll_back(backend: Backend) {
    let (_db, url) = TestDb::create(backend).await;
    let db = shared_models::db::connect(&url, 2).await.expect("connect");
    Migrator::up(&db, None).await.expect("migrate up");
    let owner = UserId::generate();
    let rows = NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| point::ActiveModel {
            owner_id: Set(owner.to_string()),
            db: Set("monitors".to_owned()),
            measurement: Set((*name).to_owned()),
            field: Set(name.replace("cpu", "v").replace("CPU", "V")),
            series_key: Set(format!("host={name}")),
            tags: Set(serde_json::json!({ "host": name }).to_string()),
            time: Set(i as i64),
            value: Set(i as f64),
            ..Default::default()
        });
    point::Entity::insert_many(rows)
        .exec_without_returning(&db)
        .await
        .expect("insert points");
    // Sorted by byte: "CPU" < "cpu" < "cpu ".
    let apart = vec![
        (
            "CPU".to_owned(),
            vec!["V".to_owned()],
            vec!["CPU".to_owned()],
        ),
        (
            "cpu".to_owned(),
            vec!["v".to_owned()],
            vec!["cpu".to_owned()],
        ),
        (
            "cpu ".to_owned(),
            vec!["v ".to_owned()],
            vec!["cpu ".to_owned()],
        ),
    ];
    assert_eq!(listed(&db, owner).await, apart);

    let Backend::MariaDb = backend else {
        // SQLite compares bytes already: nothing to change or roll back.
        Migrator::down(&db, Some(steps_back_to(EXACT_NAMES)))
            .await
            .expect("migrate down to before 000007");
        assert_eq!(listed(&db, owner).await, apart);
        Migrator::up(&db, None).await.expect("migrate up again");
        return;
    };
    let exact = |collation: &str| {
        ["db", "field", "measurement", "series_key", "tags"]
            .iter()
            .map(|c| ((*c).to_owned(), collation.to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(collations(&db).await, exact("utf8mb4_nopad_bin"));

    // Down: the table's default collation again, which merges the names,
    // as before this migration.
    Migrator::down(&db, Some(steps_back_to(EXACT_NAMES)))
        .await
        .expect("migrate down to before 000007");
    let merged = collations(&db).await;
    assert!(
        merged.iter().all(|(_, c)| c != "utf8mb4_nopad_bin"),
        "{merged:?}"
    );
    assert!(listed(&db, owner).await.len() < NAMES.len());

    Migrator::up(&db, None).await.expect("migrate up again");
    assert_eq!(collations(&db).await, exact("utf8mb4_nopad_bin"));
    assert_eq!(listed(&db, owner).await, apart);
}
