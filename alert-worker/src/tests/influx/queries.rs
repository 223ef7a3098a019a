//! Series queries: every reduction over the window, tag filters and
//! grouping, batching, and a failing statement failing its query only.

use super::*;

#[tokio::test]
async fn every_reduction_over_the_window() {
    let db = influxd().create_database().await;
    // In the window (at - 60 s, at]: 1, 2, 4, 8. Outside: before, on the
    // open lower bound, and after `at`.
    let lines = [
        (-90, 1000.0),
        (-60, 500.0),
        (-50, 1.0),
        (-30, 2.0),
        (-10, 4.0),
        (0, 8.0),
        (5, 2000.0),
    ]
    .iter()
    .map(|(s, v)| format!("price,symbol=BTC value={v} {}", ms(*s)))
    .collect::<Vec<_>>()
    .join("\n");
    influxd().write(&db, &lines).await;
    influxd()
        .write(
            &db,
            &format!(
                "volume,symbol=BTC value=3i {}\nvolume,symbol=BTC value=4i {}",
                ms(-20),
                ms(-5)
            ),
        )
        .await;

    let reductions = [
        (rule(Aggregation::Last), 8.0),
        (Reduce::First, 1.0),
        (rule(Aggregation::Mean), 3.75),
        (rule(Aggregation::Min), 1.0),
        (rule(Aggregation::Max), 8.0),
        (rule(Aggregation::Sum), 15.0),
        (rule(Aggregation::Count), 4.0),
    ];
    let mut queries: Vec<SeriesQuery> = reductions
        .iter()
        .map(|(reduce, _)| query("price", "value", &[("symbol", "BTC")], *reduce))
        .collect();
    queries.push(query("volume", "value", &[], rule(Aggregation::Sum)));
    let mut shorter = query("price", "value", &[], rule(Aggregation::Sum));
    shorter.window = Duration::from_secs(15);
    queries.push(shorter);
    let mut empty = query("price", "value", &[], rule(Aggregation::Max));
    empty.window = Duration::from_millis(500);
    queries.push(query(
        "price",
        "value",
        &[("symbol", "ETH")],
        rule(Aggregation::Last),
    ));

    let results = source(&db).query(&queries, at()).await;
    assert_eq!(results.len(), queries.len());
    for ((reduce, expected), result) in reductions.iter().zip(&results) {
        assert_eq!(single(result), *expected, "{reduce:?}");
    }
    assert_eq!(
        single(&results[7]),
        7.0,
        "integer fields are read as numbers"
    );
    assert_eq!(
        single(&results[8]),
        12.0,
        "a 15 s window holds the last two points"
    );
    assert_eq!(
        results[9].as_ref().ok(),
        Some(&Vec::new()),
        "no series, no value"
    );

    // Half a second before the last point: nothing in the window.
    let results = source(&db)
        .query(&[empty], at() - chrono::Duration::seconds(1))
        .await;
    assert_eq!(results[0].as_ref().ok(), Some(&Vec::new()));
}

#[tokio::test]
async fn tag_filters_and_group_by() {
    let db = influxd().create_database().await;
    let t = ms(-1);
    influxd()
        .write(
            &db,
            &format!(
                "trade,symbol=A,venue=x qty=1 {t}\ntrade,symbol=A,venue=y qty=2 {t}\n\
                 trade,symbol=B,venue=x qty=4 {t}\ntrade,symbol=B qty=8 {t}"
            ),
        )
        .await;
    let sum = rule(Aggregation::Sum);
    let mut by_venue = query("trade", "qty", &[("symbol", "A")], sum);
    by_venue.group_by = vec!["venue".to_owned()];
    let mut by_both = query("trade", "qty", &[], sum);
    by_both.group_by = vec!["venue".to_owned(), "symbol".to_owned()];
    let queries = [
        query("trade", "qty", &[("symbol", "A")], sum),
        query("trade", "qty", &[("symbol", "A"), ("venue", "y")], sum),
        query("trade", "qty", &[("symbol", "C")], sum),
        query("trade", "qty", &[("venue", "x")], sum),
        by_venue,
        by_both,
        // `''` matches the series without the tag, as InfluxQL defines it.
        query("trade", "qty", &[("venue", "")], sum),
    ];
    let results = source(&db).query(&queries, at()).await;
    assert_eq!(single(&results[0]), 3.0);
    assert_eq!(single(&results[1]), 2.0);
    assert_eq!(results[2].as_ref().ok(), Some(&Vec::new()));
    assert_eq!(single(&results[3]), 5.0);
    assert_eq!(
        labelled(&results[4]),
        [
            (pairs(&[("venue", "x")]), 1.0),
            (pairs(&[("venue", "y")]), 2.0)
        ]
    );
    assert_eq!(
        labelled(&results[5]),
        [
            (pairs(&[("symbol", "A"), ("venue", "x")]), 1.0),
            (pairs(&[("symbol", "A"), ("venue", "y")]), 2.0),
            (pairs(&[("symbol", "B"), ("venue", "")]), 8.0),
            (pairs(&[("symbol", "B"), ("venue", "x")]), 4.0),
        ]
    );
    assert_eq!(single(&results[6]), 8.0);
}

/// Many queries, with duplicates, merged families larger than one
/// statement, several databases and small requests, answer exactly what
/// each query answers alone, in input order.
#[tokio::test]
async fn batched_answers_equal_single_answers() {
    let db = influxd().create_database().await;
    let other = influxd().create_database().await;
    let mut lines = Vec::new();
    for s in 0..300 {
        for (offset, venue) in [(-40i64, "x"), (-20, "y"), (-2, "x")] {
            lines.push(format!(
                "quote,symbol=S{s},venue={venue} bid={},ask={} {}",
                s as i64 * 10 + offset.abs(),
                s + 1,
                ms(offset)
            ));
        }
    }
    influxd().write(&db, &lines.join("\n")).await;
    influxd()
        .write(&other, &format!("quote,symbol=S1 bid=99 {}", ms(-1)))
        .await;

    let reductions = [
        rule(Aggregation::Last),
        Reduce::First,
        rule(Aggregation::Mean),
        rule(Aggregation::Count),
    ];
    let mut queries = Vec::new();
    for s in 0..300 {
        let symbol = format!("S{s}");
        let reduce = reductions[s % reductions.len()];
        queries.push(query("quote", "bid", &[("symbol", &symbol)], reduce));
        queries.push(query(
            "quote",
            "bid",
            &[("symbol", &symbol)],
            rule(Aggregation::Max),
        ));
        if s % 3 == 0 {
            let mut grouped = query(
                "quote",
                "ask",
                &[("symbol", &symbol)],
                rule(Aggregation::Sum),
            );
            grouped.group_by = vec!["venue".to_owned()];
            queries.push(grouped);
            queries.push(query(
                "quote",
                "bid",
                &[("symbol", &symbol), ("venue", "x")],
                Reduce::First,
            ));
        }
        if s % 50 == 0 {
            let mut elsewhere = query("quote", "bid", &[("symbol", "S1")], rule(Aggregation::Last));
            elsewhere.database = Some(other.clone());
            queries.push(elsewhere);
            queries.push(query(
                "quote",
                "bid",
                &[("symbol", &symbol)],
                rule(Aggregation::Max),
            ));
        }
    }
    // Every query twice more, the copies shuffled in among the originals.
    let originals = queries.len();
    for i in 0..originals {
        queries.push(queries[(i * 7) % originals].clone());
        queries.insert(i * 2, queries[(i * 13) % originals].clone());
    }

    let mut small = config(influxd().url(), &db);
    small.max_statements_per_request = 7;
    small.max_concurrency = 3;
    let batched = InfluxSource::new(small).expect("valid settings");
    let started = Instant::now();
    let results = batched.query(&queries, at()).await;
    eprintln!("{} queries in {:?}", queries.len(), started.elapsed());
    assert_eq!(results.len(), queries.len());

    let alone = source(&db);
    for (i, (query, result)) in queries.iter().zip(&results).enumerate() {
        let expected = alone.query(std::slice::from_ref(query), at()).await;
        let sorted = |r: &Result<Vec<SeriesValue>, SourceError>| labelled(r);
        assert_eq!(sorted(result), sorted(&expected[0]), "query {i}: {query:?}");
        assert!(!sorted(result).is_empty(), "query {i} found data");
    }
    assert_eq!(
        single(
            &results[queries
                .iter()
                .position(|q| q.database.is_some())
                .expect("one")]
        ),
        99.0
    );
}

#[tokio::test]
async fn a_failing_statement_fails_its_query_only() {
    let db = influxd().create_database().await;
    influxd()
        .write(
            &db,
            &format!("m,k=a v=1,s=\"text\" {}\nm,k=b v=2 {}", ms(-1), ms(-1)),
        )
        .await;
    let mut missing = query("m", "v", &[], rule(Aggregation::Last));
    missing.database = Some("no_such_database".to_owned());
    let mut missing_too = query("m", "v", &[("k", "b")], rule(Aggregation::Max));
    missing_too.database = Some("no_such_database".to_owned());
    let queries = [
        query("m", "v", &[("k", "a")], rule(Aggregation::Last)),
        missing,
        query("m", "s", &[], rule(Aggregation::Sum)),
        query("m", "v", &[("k", "b")], rule(Aggregation::Last)),
        query("m", "s", &[], rule(Aggregation::Last)),
        missing_too,
        query("m", "v", &[("k", "a\rb")], rule(Aggregation::Last)),
        query("m", "v", &[], rule(Aggregation::Sum)),
    ];
    // One request per database: the failing statements sit between good ones.
    let mut settings = config(influxd().url(), &db);
    settings.max_concurrency = 1;
    let source = InfluxSource::new(settings).expect("valid settings");
    let results = source.query(&queries, at()).await;
    assert_eq!(single(&results[0]), 1.0);
    for i in [1, 5] {
        assert!(
            matches!(&results[i], Err(SourceError::Refused(m)) if m.contains("database not found")),
            "{:?}",
            results[i]
        );
    }
    assert!(
        matches!(&results[2], Err(SourceError::Refused(m)) if m.contains("unsupported sum")),
        "{:?}",
        results[2]
    );
    assert_eq!(single(&results[3]), 2.0);
    assert!(
        matches!(&results[4], Err(SourceError::Refused(m)) if m.contains("non-numeric")),
        "{:?}",
        results[4]
    );
    assert!(matches!(&results[6], Err(SourceError::Refused(m)) if m.contains("cannot express")));
    assert_eq!(single(&results[7]), 3.0);
}
