use chrono::TimeZone;
use shared_models::{ids::UserId, rule::Aggregation};

use super::*;

fn at() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0)
        .single()
        .expect("valid time")
}

fn query(tags: &[(&str, &str)]) -> SeriesQuery {
    SeriesQuery {
        owner: UserId::generate(),
        database: None,
        measurement: "crypto".to_owned(),
        field: "price".to_owned(),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        reduce: Reduce::Rule(Aggregation::Last),
        window: Duration::from_secs(60),
        group_by: Vec::new(),
    }
}

fn texts(plan: &Plan) -> Vec<(&str, Vec<&str>)> {
    plan.jobs
        .iter()
        .map(|(db, planned)| {
            (
                db.as_str(),
                planned.iter().map(|p| p.text.as_str()).collect(),
            )
        })
        .collect()
}

fn series(json: &str) -> Vec<Series> {
    serde_json::from_str(json).expect("series")
}

fn delivered(plan: &Plan, answers: Vec<Result<Vec<Series>, SourceError>>) -> Vec<Option<Answer>> {
    let mut out: Vec<Option<Answer>> = (0..plan.distinct).map(|_| None).collect();
    let routes = plan
        .jobs
        .iter()
        .flat_map(|(_, planned)| planned.iter().map(|p| &p.route));
    for (route, answer) in routes.zip(answers) {
        route.deliver(answer, &mut out);
    }
    out
}

#[test]
fn one_query_one_plain_statement() {
    let plan = plan(&[query(&[("symbol", "BTC")])], at(), "db");
    assert_eq!(
        texts(&plan),
        [(
            "db",
            vec![
                "SELECT last(\"price\") FROM \"crypto\" WHERE time > '2023-11-14T22:12:20.000000000Z' \
                 AND time <= '2023-11-14T22:13:20.000000000Z' AND \"symbol\" = 'BTC'"
            ]
        )]
    );
}

#[test]
fn equal_queries_are_asked_once_whoever_owns_them() {
    let mut b = query(&[("symbol", "BTC")]);
    b.group_by = vec!["venue".to_owned(), "region".to_owned()];
    let mut c = b.clone();
    c.owner = UserId::generate();
    c.group_by = vec!["region".to_owned(), "venue".to_owned(), "venue".to_owned()];
    let mut d = b.clone();
    d.database = Some("db".to_owned());
    let plan = plan(&[b, c, d], at(), "db");
    assert_eq!(plan.distinct, 1);
    assert!(plan.slots.iter().all(|s| matches!(s, Ok(0))));
    assert_eq!(texts(&plan)[0].1.len(), 1);
}

#[test]
fn queries_differing_in_tag_values_are_merged_and_split_back() {
    let queries = [
        query(&[("symbol", "BTC"), ("venue", "x")]),
        query(&[("symbol", "ETH"), ("venue", "x")]),
        query(&[("symbol", "BTC"), ("venue", "y")]),
        query(&[("symbol", "BTC")]),
    ];
    let plan = plan(&queries, at(), "db");
    let texts = texts(&plan);
    assert_eq!(texts[0].1.len(), 2, "{texts:?}");
    assert!(
        texts[0].1[0].ends_with(
            r#"AND "symbol" =~ /^(?:BTC|ETH)$/ AND "venue" =~ /^(?:x|y)$/ GROUP BY "symbol","venue""#
        ),
        "{texts:?}"
    );
    assert!(
        texts[0].1[1].ends_with("AND \"symbol\" = 'BTC'"),
        "{texts:?}"
    );

    let out = delivered(
        &plan,
        vec![
            Ok(series(
                r#"[{"tags":{"symbol":"BTC","venue":"x"},"columns":["time","last"],"values":[[0,1]]},
                    {"tags":{"symbol":"BTC","venue":"y"},"columns":["time","last"],"values":[[0,3]]},
                    {"tags":{"symbol":"ETH","venue":"y"},"columns":["time","last"],"values":[[0,9]]}]"#,
            )),
            Ok(series(r#"[{"columns":["time","last"],"values":[[0,4]]}]"#)),
        ],
    );
    let value = |i: usize| match &out[i] {
        Some(Ok(values)) => values.iter().map(|v| v.value).collect::<Vec<_>>(),
        other => panic!("query {i}: {other:?}"),
    };
    assert_eq!(value(0), [1.0]);
    assert_eq!(value(1), Vec::<f64>::new(), "ETH at y was not asked for");
    assert_eq!(value(2), [3.0]);
    assert_eq!(value(3), [4.0]);
    assert!(
        out.iter()
            .all(|o| matches!(o, Some(Ok(v)) if v.iter().all(|v| v.labels.is_empty())))
    );
}

#[test]
fn merged_group_by_labels_hold_only_the_queries_group_by() {
    let mut a = query(&[("symbol", "BTC")]);
    a.group_by = vec!["venue".to_owned()];
    let mut b = query(&[("symbol", "ETH")]);
    b.group_by = vec!["venue".to_owned()];
    let plan = plan(&[a, b], at(), "db");
    assert!(texts(&plan)[0].1[0].ends_with("GROUP BY \"symbol\",\"venue\""));
    let out = delivered(
        &plan,
        vec![Ok(series(
            r#"[{"tags":{"symbol":"BTC","venue":"x"},"columns":["time","last"],"values":[[0,1]]},
                {"tags":{"symbol":"BTC","venue":"y"},"columns":["time","last"],"values":[[0,2]]},
                {"tags":{"symbol":"ETH","venue":"x"},"columns":["time","last"],"values":[[0,"oops"]]}]"#,
        ))],
    );
    let Some(Ok(btc)) = &out[0] else {
        panic!("{out:?}")
    };
    let labels: Vec<(&str, f64)> = btc
        .iter()
        .map(|v| (v.labels["venue"].as_str(), v.value))
        .collect();
    assert_eq!(labels, [("x", 1.0), ("y", 2.0)]);
    assert!(btc.iter().all(|v| v.labels.len() == 1));
    assert!(
        matches!(&out[1], Some(Err(SourceError::Refused(_)))),
        "{out:?}"
    );
}

#[test]
fn a_failed_statement_fails_each_query_it_carried() {
    let plan = plan(
        &[query(&[("symbol", "A")]), query(&[("symbol", "B")])],
        at(),
        "db",
    );
    let out = delivered(
        &plan,
        vec![Err(SourceError::Timeout(Duration::from_secs(1)))],
    );
    assert!(
        out.iter()
            .all(|o| matches!(o, Some(Err(SourceError::Timeout(_)))))
    );
}

#[test]
fn large_families_are_cut_into_statements() {
    let values: Vec<String> = (0..MAX_MERGED * 2 + 1)
        .map(|i| format!("s{i:05}"))
        .collect();
    let queries: Vec<SeriesQuery> = values
        .iter()
        .rev()
        .map(|v| query(&[("symbol", v)]))
        .collect();
    let plan = plan(&queries, at(), "db");
    let texts = texts(&plan);
    assert_eq!(texts[0].1.len(), 3);
    assert!(
        texts[0].1[0].contains("/^(?:s00000|s00001|"),
        "members are sorted"
    );
    let last = format!("AND \"symbol\" = 's{:05}'", MAX_MERGED * 2);
    assert!(texts[0].1[2].ends_with(&last), "the last one is alone");
}

#[test]
fn families_split_on_everything_but_tag_values() {
    let base = query(&[("symbol", "BTC")]);
    let mut variants = vec![base.clone()];
    let mut other = base.clone();
    other.reduce = Reduce::First;
    variants.push(other);
    let mut other = base.clone();
    other.window = Duration::from_secs(61);
    variants.push(other);
    let mut other = base.clone();
    other.field = "volume".to_owned();
    variants.push(other);
    let mut other = base.clone();
    other.group_by = vec!["venue".to_owned()];
    variants.push(other);
    let mut other = base.clone();
    other.tags.insert("venue".to_owned(), "x".to_owned());
    variants.push(other);
    let mut other = base.clone();
    other.database = Some("elsewhere".to_owned());
    variants.push(other);
    let plan = plan(&variants, at(), "db");
    let texts = texts(&plan);
    assert_eq!(texts.len(), 2);
    assert_eq!(texts[0].1.len(), 6);
    assert!(texts.iter().flat_map(|(_, t)| t).all(|t| !t.contains("=~")));
    assert_eq!(texts[1].0, "elsewhere");
    assert!(texts[0].1[1].starts_with("SELECT first("));
}

#[test]
fn inexpressible_names_fail_their_query_only() {
    let queries = [
        query(&[("symbol", "a\rb")]),
        query(&[("symbol", "ok")]),
        query(&[("", "x")]),
        SeriesQuery {
            measurement: "nul\0".to_owned(),
            ..query(&[])
        },
        SeriesQuery {
            database: Some(String::new()),
            ..query(&[])
        },
        SeriesQuery {
            group_by: vec![String::new()],
            ..query(&[])
        },
    ];
    let plan = plan(&queries, at(), "db");
    assert!(matches!(&plan.slots[0], Err(SourceError::Refused(m)) if m.contains("cannot express")));
    assert!(matches!(&plan.slots[1], Ok(0)));
    for slot in &plan.slots[2..] {
        assert!(matches!(slot, Err(SourceError::Refused(_))), "{slot:?}");
    }
    assert_eq!(texts(&plan)[0].1.len(), 1);
}

#[test]
fn times_outside_influx_range_saturate_or_refuse() {
    let mut q = query(&[]);
    q.window = Duration::from_secs(u64::MAX);
    let plan = plan(&[q], at(), "db");
    let text = texts(&plan)[0].1[0];
    assert!(text.contains("time > '1731-"), "{text}");

    let far = Utc
        .with_ymd_and_hms(3000, 1, 1, 0, 0, 0)
        .single()
        .expect("valid time");
    let plan = super::plan(&[query(&[])], far, "db");
    assert!(matches!(&plan.slots[0], Err(SourceError::Refused(_))));
}
