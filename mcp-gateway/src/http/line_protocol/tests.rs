use super::explain::diagnose;
use super::*;

fn parse_ok(text: &str, precision: Precision) -> Parsed {
    parse(text, "monitors", precision).unwrap()
}

fn line_error(text: &str) -> (usize, String) {
    match parse(text, "monitors", Precision::Nanos) {
        Err(LineError { line, reason }) => (line, reason),
        Ok(parsed) => panic!("expected a line error, got {parsed:?}"),
    }
}

#[test]
fn numeric_fields_become_points_and_others_are_dropped() {
    let parsed = parse_ok(
        "cpu,host=a,region=eu f=1.5,i=-2i,u=3u,b=true,off=f,s=\"x\" 1700000000123456789\n\
         cpu,host=b f=2,s=\"y\"\nmem s=\"z\"",
        Precision::Nanos,
    );
    let got: Vec<(&str, f64)> = parsed
        .points
        .iter()
        .map(|p| (p.field.as_str(), p.value))
        .collect();
    assert_eq!(got, [("f", 1.5), ("i", -2.0), ("u", 3.0), ("f", 2.0)]);
    let first = &parsed.points[0];
    assert_eq!(first.measurement, "cpu");
    assert_eq!(first.series_key, "host=a,region=eu");
    assert_eq!(first.tags, r#"{"host":"a","region":"eu"}"#);
    assert_eq!(first.time, Some(1_700_000_000_123));
    let dropped = |measurement: &str, field: &str, kind, count, first_line| Dropped {
        measurement: measurement.to_owned(),
        field: field.to_owned(),
        kind,
        count,
        first_line,
    };
    assert_eq!(
        parsed.dropped,
        [
            dropped("cpu", "b", "boolean", 1, 1),
            dropped("cpu", "off", "boolean", 1, 1),
            dropped("cpu", "s", "string", 2, 1),
            dropped("mem", "s", "string", 1, 3),
        ]
    );
}

#[test]
fn precisions_scale_to_milliseconds() {
    let at = |text: &str, p| parse_ok(text, p).points[0].time;
    assert_eq!(at("m v=1 1500", Precision::Nanos), Some(0));
    assert_eq!(at("m v=1 -1", Precision::Nanos), Some(-1));
    assert_eq!(at("m v=1 1500", Precision::Micros), Some(1));
    assert_eq!(at("m v=1 1500", Precision::Millis), Some(1500));
    assert_eq!(at("m v=1 2", Precision::Seconds), Some(2_000));
    assert_eq!(at("m v=1 2", Precision::Minutes), Some(120_000));
    assert_eq!(at("m v=1 2", Precision::Hours), Some(7_200_000));
    assert_eq!(at("m v=1", Precision::Seconds), None);
    assert!(matches!(
        parse(&format!("m v=1 {}", i64::MAX), "d", Precision::Hours),
        Err(LineError { line: 1, .. })
    ));
}

#[test]
fn precision_spellings_per_api_version() {
    assert_eq!(Precision::v1(None).unwrap(), Precision::Nanos);
    assert_eq!(Precision::v1(Some("u")).unwrap(), Precision::Micros);
    assert_eq!(Precision::v1(Some("h")).unwrap(), Precision::Hours);
    assert_eq!(Precision::v2(Some("us")).unwrap(), Precision::Micros);
    assert!(Precision::v2(Some("h")).is_err());
    assert!(Precision::v1(Some("days")).is_err());
}

#[test]
fn errors_name_the_line_counting_blank_comment_and_crlf_lines() {
    let (line, reason) = line_error("# header\r\n\r\nm v=1\r\nm v=\r\n");
    assert_eq!(line, 4, "{reason}");
    let (line, _) = line_error("m s=\"two\nlines\"\nm v=1\nm,t=1,t=2 v=1");
    assert_eq!(line, 4);
    let (_, reason) = line_error("m,t=1,t=2 v=1");
    assert!(reason.contains("repeated"), "{reason}");
    let (_, reason) = line_error(&format!("{} v=1", "m".repeat(257)));
    assert!(reason.contains("measurement"), "{reason}");
}

#[test]
fn malformed_lines_are_explained_in_plain_words() {
    for (line, expected) in [
        ("cpu", "the line has no fields; after the measurement"),
        ("cpu,host=a", "the line has no fields"),
        ("cpu,host=a,v=1", "the line has no fields"),
        (
            ",host=a v=1",
            "the line does not start with a measurement name",
        ),
        ("cpu,host v=1", "tag \"host\" has no value"),
        ("cpu,host= v=1", "tag \"host\" has an empty value"),
        ("cpu,=a v=1", "a tag has no name"),
        ("cpu, v=1", "there is an empty tag"),
        ("cpu\tv=1", "the line has no fields; put a space between"),
        ("cpu v", "field \"v\" has no value; write it as v=1.5"),
        ("cpu v=", "field \"v\" has no value"),
        ("cpu =1", "a field has no name before =\"1\""),
        (
            "cpu v=oops",
            "field \"v\" has the value \"oops\", which is not a number",
        ),
        ("cpu v=1.5x", "field \"v\" has the value \"1.5x\""),
        (
            "cpu v=\"open",
            "the text value of field \"v\" has no closing double quote",
        ),
        ("cpu v=\"a\"b", "field \"v\" is followed by \"b\""),
        (
            "cpu v=99999999999999999999i",
            "the integer \"99999999999999999999i\" of field \"v\" is out of range",
        ),
        (
            "cpu v=1 notatime",
            "the timestamp \"notatime\" is not a whole number",
        ),
        ("cpu v=1 1.5", "the timestamp \"1.5\" is not a whole number"),
        (
            "my cpu v=1",
            "field \"cpu\" has no value; write it as cpu=1.5, or",
        ),
        ("cpu v=1 1 2", "unexpected \"2\" after the timestamp"),
    ] {
        let (number, reason) = line_error(&format!("ok v=1\n{line}"));
        assert_eq!(number, 2, "{line}: {reason}");
        assert!(reason.starts_with(expected), "{line}: {reason}");
        assert!(reason.ends_with(EXAMPLE), "{line}: {reason}");
        for internal in ["TakeWhile", "Malformed", "generic", "nom"] {
            assert!(!reason.contains(internal), "{line}: {reason}");
        }
    }
}

#[test]
fn invalid_utf8_names_its_line() {
    let error = text(b"m v=1\nm,t=\xff v=1\n").unwrap_err();
    assert_eq!(error.line, 2);
    assert!(error.reason.contains("not valid UTF-8"), "{}", error.reason);
}

#[test]
fn repeated_fields_keep_the_last_value() {
    let parsed = parse_ok("m v=1,v=2\nm w=\"x\",w=3", Precision::Nanos);
    let got: Vec<(&str, f64)> = parsed
        .points
        .iter()
        .map(|p| (p.field.as_str(), p.value))
        .collect();
    assert_eq!(got, [("v", 2.0), ("w", 3.0)]);
    assert!(parsed.dropped.is_empty());
}

#[test]
fn the_parser_and_the_explanation_agree_on_good_lines() {
    // Every line the parser takes, the explanation finds nothing wrong
    // with: it never blames a correct part of a bad line.
    for line in [
        "cpu v=1",
        "cpu,host=a v=1i,w=2u,x=-3.5e-2,y=t,z=\"a \\\"b\\\" c\" 1",
        "my\\ cpu,host\\ name=a\\,b v=1",
        "cpu v=1E5 -5",
    ] {
        assert!(
            influxdb_line_protocol::parse_lines(line).all(|l| l.is_ok()),
            "{line}"
        );
        assert_eq!(diagnose(line), None, "{line}");
    }
}
