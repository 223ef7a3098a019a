//! Migration 000006: the rule listing's covering index, up and down on both
//! databases, and the listing query planned on it.

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

use crate::support::{Backend, TestDb, on_both_backends};

on_both_backends!(the_listing_index_replaces_the_owner_index_and_rolls_back);

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

    Migrator::down(&db, Some(1))
        .await
        .expect("migrate down one");
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
