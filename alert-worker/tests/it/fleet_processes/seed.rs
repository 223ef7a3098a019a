//! The rules, points and webhook channel a fault test starts from, stored
//! as the gateway stores them.

use super::*;

/// A webhook channel to `url`, sealed under `key` as the gateway seals it.
pub(super) async fn webhook(
    db: &DatabaseConnection,
    owner: &str,
    key: &str,
    url: &str,
) -> ChannelId {
    let keyring = Keyring::from_base64(key, &[]).unwrap();
    let id = ChannelId::generate();
    let config = ChannelConfig::parse(
        ChannelKind::Webhook,
        json!({ "url": url }),
        &generate_signing_secret().unwrap(),
    )
    .unwrap();
    notification_channel::ActiveModel {
        id: Set(id.to_string()),
        owner_id: Set(owner.to_owned()),
        name: Set("fleet hook".into()),
        kind: Set("webhook".into()),
        sealed: Set(config.seal(&keyring, &id.to_string()).unwrap()),
        key_id: Set(keyring.current_key_id().to_owned()),
        redacted: Set(config.redacted().to_string()),
        created_at: Set(Timestamp::EPOCH),
        updated_at: Set(Timestamp::EPOCH),
        version: Set(1),
    }
    .insert(db)
    .await
    .unwrap();
    id
}

/// `RULES` one-second rules notifying `channel`: `HOT` on a series above
/// the threshold, `LATE` on one that crosses it when told, the rest calm.
pub(super) async fn seed_rules(
    db: &DatabaseConnection,
    owner: &str,
    channel: ChannelId,
) -> BTreeMap<String, (Shard, Group)> {
    let mut rules = BTreeMap::new();
    let mut rows = Vec::with_capacity(RULES);
    for n in 0..RULES {
        let group = match n {
            n if n < HOT => Group::Hot,
            n if n < HOT + LATE => Group::Late,
            _ => Group::Calm,
        };
        let symbols = group.symbols();
        let (id, row) = rule_row(owner, n, &symbols[n % symbols.len()], channel);
        rules.insert(id, (*row.shard.as_ref(), group));
        rows.push(row);
    }
    for chunk in rows.chunks(250) {
        alert_rule::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .unwrap();
    }
    rules
}

/// Rule `n`, a one-second rule on `symbol`'s price above 70,000 that
/// notifies `channel`, as the gateway would store it.
pub(super) fn rule_row(
    owner: &str,
    n: usize,
    symbol: &str,
    channel: ChannelId,
) -> (String, alert_rule::ActiveModel) {
    let limits = RuleLimits {
        min_interval: HumanDuration::from_secs(1),
        ..RuleLimits::default()
    };
    let input: RuleInput = serde_json::from_value(json!({
        "name": format!("fleet rule {n}"),
        "metric": {
            "measurement": "crypto",
            "field": "price",
            "tags": {"symbol": symbol},
        },
        "condition": {"op": ">", "threshold": 70000},
        "interval": "1s",
        "channels": [channel.to_string()],
    }))
    .unwrap();
    let spec = RuleSpec::parse(input, &limits).unwrap();
    let id = RuleId::generate();
    let row = alert_rule::ActiveModel {
        id: Set(id),
        owner_id: Set(owner.parse().unwrap()),
        name: Set(spec.name.as_str().to_owned()),
        enabled: Set(true),
        severity: Set(spec.severity),
        interval_ms: Set(spec.interval.as_millis() as i64),
        shard: Set(Shard::of(&id, SHARDS)),
        spec: Set(spec.clone()),
        version: Set(1),
        created_at: Set(Timestamp::EPOCH),
        updated_at: Set(Timestamp::EPOCH),
    };
    (id.to_string(), row)
}

pub(super) async fn insert_point(
    db: &DatabaseConnection,
    owner: &str,
    symbol: &str,
    at: i64,
    value: f64,
) {
    let tags = BTreeMap::from([("symbol".to_owned(), symbol.to_owned())]);
    point::ActiveModel {
        owner_id: Set(owner.to_owned()),
        db: Set("monitors".into()),
        measurement: Set("crypto".into()),
        field: Set("price".into()),
        series_key: Set(series_key(&tags)),
        tags: Set(serde_json::to_string(&tags).unwrap()),
        time: Set(at),
        value: Set(value),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
}
