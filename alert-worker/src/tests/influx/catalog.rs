//! Names that need escaping, and the catalog of measurements.

use super::*;

#[tokio::test]
async fn hostile_names_round_trip() {
    let db = influxd().create_database().await;
    let measurement = "q\"u'o\\te,m ; DROP MEASUREMENT x;é";
    let tag_key = "t\"a\\g k=ey'";
    let tag_value = "v\"a\\l=u'e,; DROP DATABASE x 😀";
    let field = "fi\"e\\l=d', x";
    let lines = format!(
        "{m} {f}=7 {}\n{m},{k}={v} {f}=42 {}",
        ms(-2),
        ms(-1),
        m = lp_measurement(measurement),
        f = lp_key(field),
        k = lp_key(tag_key),
        v = lp_key(tag_value),
    );
    influxd().write(&db, &lines).await;
    // Line protocol cannot carry a newline; InfluxQL can, through SELECT INTO.
    let newline_measurement = "nl\nmeas;é";
    let newline_field = "fi\neld'";
    influxd()
        .query(
            &db,
            "SELECT \"fi\\\"e\\\\l=d', x\" AS \"fi\\neld'\" INTO \"nl\\nmeas;é\" \
             FROM \"q\\\"u'o\\\\te,m ; DROP MEASUREMENT x;é\" GROUP BY *",
        )
        .await;

    let mut grouped = query(measurement, field, &[], rule(Aggregation::Sum));
    grouped.group_by = vec![tag_key.to_owned()];
    let mut merged_a = query(
        newline_measurement,
        newline_field,
        &[(tag_key, tag_value)],
        rule(Aggregation::Max),
    );
    merged_a.group_by = vec![tag_key.to_owned()];
    let mut merged_b = merged_a.clone();
    merged_b.tags.insert(tag_key.to_owned(), "other".to_owned());
    let queries = [
        query(
            measurement,
            field,
            &[(tag_key, tag_value)],
            rule(Aggregation::Last),
        ),
        grouped,
        merged_a,
        merged_b,
        query(
            newline_measurement,
            newline_field,
            &[],
            rule(Aggregation::Count),
        ),
    ];
    let results = source(&db).query(&queries, at()).await;
    assert_eq!(single(&results[0]), 42.0);
    assert_eq!(
        labelled(&results[1]),
        [
            (pairs(&[(tag_key, "")]), 7.0),
            (pairs(&[(tag_key, tag_value)]), 42.0)
        ]
    );
    assert_eq!(
        labelled(&results[2]),
        [(pairs(&[(tag_key, tag_value)]), 42.0)]
    );
    assert_eq!(results[3].as_ref().ok(), Some(&Vec::new()));
    assert_eq!(single(&results[4]), 2.0);

    let catalog = source(&db)
        .catalog(&CatalogRequest {
            owner: UserId::generate(),
            database: None,
            prefix: Some("q\"u'o\\te,m ;".to_owned()),
            measurements_limit: 10,
            values_limit: 10,
            describe: true,
        })
        .await
        .expect("catalog");
    assert_eq!(
        catalog.measurements,
        [MeasurementInfo {
            name: measurement.to_owned(),
            fields: vec![field.to_owned()],
            tags: BTreeMap::from([(tag_key.to_owned(), vec![tag_value.to_owned()])]),
            more_tag_values: BTreeSet::new(),
        }]
    );
}

#[tokio::test]
async fn catalog_by_prefix_and_limits() {
    let db = influxd().create_database().await;
    let t = ms(-1);
    influxd()
        .write(
            &db,
            &format!(
                "cpu.load,host=a,dc=x user=1,system=2 {t}\ncpu.load,host=b,dc=x user=1 {t}\n\
                 cpu.load,host=c user=1 {t}\ncpuxload,host=a v=1 {t}\ncpu.temp,zone=1 c=50 {t}\n\
                 mem,host=a used=1 {t}"
            ),
        )
        .await;
    let request = |prefix: Option<&str>, measurements_limit, values_limit| CatalogRequest {
        owner: UserId::generate(),
        database: None,
        prefix: prefix.map(str::to_owned),
        measurements_limit,
        values_limit,
        describe: true,
    };
    let source = source(&db);

    let catalog = source
        .catalog(&request(Some("cpu."), 10, 2))
        .await
        .expect("catalog");
    let names: Vec<&str> = catalog
        .measurements
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["cpu.load", "cpu.temp"], "`.` is taken literally");
    assert_eq!(catalog.measurements[0].fields, ["system", "user"]);
    assert_eq!(
        catalog.measurements[0].tags,
        BTreeMap::from([
            ("dc".to_owned(), vec!["x".to_owned()]),
            ("host".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
        ])
    );
    assert_eq!(
        catalog.measurements[0].more_tag_values,
        BTreeSet::from(["host".to_owned()]),
        "host has a third value, c, not listed"
    );
    assert_eq!(catalog.measurements[1].fields, ["c"]);
    assert!(!catalog.more_measurements);

    let all = source.catalog(&request(None, 2, 0)).await.expect("catalog");
    let names: Vec<&str> = all.measurements.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["cpu.load", "cpu.temp"]);
    assert!(all.more_measurements, "cpuxload and mem are not listed");
    assert!(
        all.measurements[0].tags.values().all(Vec::is_empty),
        "values_limit 0: no values"
    );

    let none = source
        .catalog(&request(Some("disk"), 10, 10))
        .await
        .expect("catalog");
    assert!(none.measurements.is_empty());
    let zero = source
        .catalog(&request(None, 0, 10))
        .await
        .expect("catalog");
    assert!(
        zero.measurements.is_empty(),
        "LIMIT 0 would mean no limit to InfluxDB"
    );

    // InfluxDB 1.6 lists no measurements for a database it does not have.
    let mut elsewhere = request(None, 10, 10);
    elsewhere.database = Some("no_such_database".to_owned());
    let missing = source.catalog(&elsewhere).await.expect("catalog");
    assert!(missing.measurements.is_empty());
}
