use super::*;

fn statements(status: u16, body: &str, n: usize) -> Vec<Outcome> {
    match parse(status, body.as_bytes(), n) {
        Ok(Answer::Statements(outcomes)) => outcomes,
        other => panic!("expected statements, got {other:?}"),
    }
}

fn series(outcome: &Outcome) -> &[Series] {
    match outcome {
        Outcome::Done(Ok(series)) => series,
        other => panic!("expected series, got {other:?}"),
    }
}

#[test]
fn reads_grouped_series_with_integers_floats_and_nulls() {
    let body = r#"{"results":[{"statement_id":0,"series":[
        {"name":"m","tags":{"sym":"BTC"},"columns":["time","last"],"values":[[1,10]]},
        {"name":"m","tags":{"sym":"ETH"},"columns":["time","last"],"values":[[1,null],[2,2.5]]},
        {"name":"m","tags":{"sym":""},"columns":["time","last"],"values":[[1,null]]},
        {"name":"m","columns":["time","last"],"values":[]}
    ]}]}"#;
    let outcomes = statements(200, body, 1);
    let got: Vec<(&str, Option<f64>)> = series(&outcomes[0])
        .iter()
        .map(|s| (s.tag("sym"), s.reduced().expect("numeric")))
        .collect();
    assert_eq!(
        got,
        [
            ("BTC", Some(10.0)),
            ("ETH", Some(2.5)),
            ("", None),
            ("", None)
        ]
    );
}

#[test]
fn matches_results_by_statement_id() {
    let body = r#"{"results":[
        {"statement_id":2,"series":[{"columns":["time","sum"],"values":[[0,3]]}]},
        {"statement_id":0},
        {"statement_id":1,"error":"database not found: x"}
    ]}"#;
    let outcomes = statements(200, body, 3);
    assert!(series(&outcomes[0]).is_empty());
    assert!(
        matches!(&outcomes[1], Outcome::Done(Err(SourceError::Refused(m))) if m == "database not found: x")
    );
    assert_eq!(
        series(&outcomes[2])[0].reduced().expect("numeric"),
        Some(3.0)
    );
}

#[test]
fn results_without_ids_are_taken_in_order() {
    let body = r#"{"results":[{"series":[]},{"error":"boom"}]}"#;
    let outcomes = statements(200, body, 2);
    assert!(series(&outcomes[0]).is_empty());
    assert!(matches!(&outcomes[1], Outcome::Done(Err(SourceError::Refused(m))) if m == "boom"));
}

#[test]
fn not_executed_and_missing_statements_are_to_be_resent() {
    let body =
        r#"{"results":[{"statement_id":0,"series":[]},{"statement_id":1,"error":"not executed"}]}"#;
    let outcomes = statements(200, body, 3);
    assert!(matches!(outcomes[1], Outcome::NotExecuted));
    assert!(matches!(outcomes[2], Outcome::NotExecuted));
}

#[test]
fn pieces_of_one_statement_are_joined() {
    let body = r#"{"results":[
        {"statement_id":0,"series":[{"tags":{"k":"a"},"columns":["time","v"],"values":[[0,1]]}],"partial":true},
        {"statement_id":0,"series":[{"tags":{"k":"b"},"columns":["time","v"],"values":[[0,2]]}]}
    ]}"#;
    let outcomes = statements(200, body, 1);
    let tags: Vec<&str> = series(&outcomes[0]).iter().map(|s| s.tag("k")).collect();
    assert_eq!(tags, ["a", "b"]);
}

#[test]
fn a_truncated_answer_is_an_error() {
    let body = r#"{"results":[{"statement_id":0,"series":[{"columns":["time","v"],"values":[[0,1]],"partial":true}]}]}"#;
    let outcomes = statements(200, body, 1);
    assert!(
        matches!(&outcomes[0], Outcome::Done(Err(SourceError::Refused(m))) if m.contains("row limit"))
    );
}

#[test]
fn whole_request_errors() {
    let rejected = |status, body: &str| match parse(status, body.as_bytes(), 2) {
        Ok(Answer::Rejected(message)) => message,
        other => panic!("expected a rejection, got {other:?}"),
    };
    assert_eq!(
        rejected(200, r#"{"error":"error parsing query: x"}"#),
        "error parsing query: x"
    );
    assert_eq!(
        rejected(400, r#"{"error":"error parsing query: y"}"#),
        "error parsing query: y"
    );

    let error = |status, body: &str| match parse(status, body.as_bytes(), 2) {
        Err(error) => error,
        Ok(answer) => panic!("expected an error, got {answer:?}"),
    };
    assert!(matches!(error(401, r#"{"error":"authorization failed"}"#),
        SourceError::Refused(m) if m.contains("authorization failed")));
    assert!(matches!(error(404, "404 page not found"),
        SourceError::Unreachable(m) if m == "HTTP 404: 404 page not found"));
    assert!(matches!(error(503, ""), SourceError::Unreachable(m) if m.contains("empty body")));
    assert!(matches!(
        error(429, r#"{"error":"slow down"}"#),
        SourceError::Unreachable(_)
    ));
    assert!(matches!(error(307, ""), SourceError::Unreachable(m) if m.contains("redirect")));
    assert!(matches!(
        error(200, "{\"results\":[{\"statement_id\":0"),
        SourceError::Protocol(_)
    ));
    assert!(matches!(error(200, "<html>"), SourceError::Protocol(_)));
    assert!(matches!(
        error(200, r#"{"results":[{"statement_id":5}]}"#),
        SourceError::Protocol(_)
    ));
    let long = "x".repeat(1_000);
    assert!(matches!(error(502, &long), SourceError::Unreachable(m) if m.chars().count() < 220));
}

#[test]
fn values_of_the_wrong_kind() {
    let one = |body: &str| -> Series { serde_json::from_str(body).expect("series") };
    let text = one(r#"{"columns":["time","last"],"values":[[0,"str"]]}"#);
    assert!(matches!(text.reduced(), Err(SourceError::Refused(m)) if m.contains("a string")));
    let narrow = one(r#"{"columns":["time"],"values":[[0]]}"#);
    assert!(matches!(narrow.reduced(), Err(SourceError::Protocol(_))));
    let short_row = one(r#"{"columns":["time","v"],"values":[[0]]}"#);
    assert!(matches!(short_row.reduced(), Err(SourceError::Protocol(_))));
    let tags =
        one(r#"{"tags":{"k":null},"columns":["key","value"],"values":[["k","a"],["k","b"]]}"#);
    assert_eq!(tags.tag("k"), "");
    assert_eq!(tags.column("value").expect("strings"), ["a", "b"]);
    assert!(matches!(tags.column("nope"), Err(SourceError::Protocol(_))));
}
