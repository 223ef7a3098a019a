//! The statements are read back with a small tokenizer that accepts only what
//! both the 1.x and the 3.x parsers accept, so a passing test means the text
//! has the intended token shape under either, whatever the names hold.

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Ident(String),
    Str(String),
    Regex(String),
    /// A regex body decoded to the literal values it alternates.
    AnyOf(Vec<String>),
    Num(String),
    Punct(&'static str),
}

fn word(w: &str) -> Tok {
    Tok::Word(w.to_owned())
}

fn ident(s: &str) -> Tok {
    Tok::Ident(s.to_owned())
}

fn string(s: &str) -> Tok {
    Tok::Str(s.to_owned())
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '"' | '\'' => {
                let (value, next) = quoted(&chars, i)?;
                toks.push(if c == '"' {
                    Tok::Ident(value)
                } else {
                    Tok::Str(value)
                });
                i = next;
            }
            '/' if toks.last() == Some(&Tok::Punct("=~")) => {
                let (value, next) = regex(&chars, i)?;
                toks.push(Tok::Regex(value));
                i = next;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                toks.push(Tok::Word(chars[start..i].iter().collect()));
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                toks.push(Tok::Num(chars[start..i].iter().collect()));
            }
            _ => {
                let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let punct = match two.as_str() {
                    "=~" => "=~",
                    "<=" => "<=",
                    _ => match c {
                        '(' => "(",
                        ')' => ")",
                        ',' => ",",
                        ';' => ";",
                        '=' => "=",
                        '>' => ">",
                        other => return Err(format!("unexpected {other:?} at {i}")),
                    },
                };
                toks.push(Tok::Punct(punct));
                i += punct.len();
            }
        }
    }
    Ok(toks)
}

/// A quoted token as the stricter of the two parsers reads it.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let quote = chars[start];
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err("unterminated quote".to_owned()),
            Some(&c) if c == quote => return Ok((value, i + 1)),
            Some('\n' | '\r' | '\0') => return Err(format!("raw control character at {i}")),
            Some('\\') => {
                match chars.get(i + 1) {
                    Some('\\') => value.push('\\'),
                    Some('n') => value.push('\n'),
                    Some(&c) if c == quote => value.push(c),
                    other => return Err(format!("escape {other:?} not accepted by both parsers")),
                }
                i += 2;
            }
            Some(&c) => {
                value.push(c);
                i += 1;
            }
        }
    }
}

/// The body of a `/.../` literal, which must not hold an escaped `/` or a
/// newline.
fn regex(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut body = String::new();
    for (i, &c) in chars.iter().enumerate().skip(start + 1) {
        match c {
            '/' if body.ends_with('\\') => return Err(format!("escaped delimiter at {i}")),
            '/' => return Ok((body, i + 1)),
            '\n' | '\r' | '\0' => return Err(format!("raw control character at {i}")),
            c => body.push(c),
        }
    }
    Err("unterminated regex".to_owned())
}

/// A literal written by `push_regex_literal`, read the way RE2 reads
/// `\x{..}`; any other character than ASCII letters, digits and `_` would
/// be a regex metacharacter, and fails.
fn literal(body: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
            rest = &rest[1..];
        } else if let Some(hex) = rest.strip_prefix("\\x{") {
            let close = hex.find('}').ok_or("unterminated \\x{")?;
            let code = u32::from_str_radix(&hex[..close], 16).map_err(|e| e.to_string())?;
            out.push(char::from_u32(code).ok_or("not a character")?);
            rest = &hex[close + 1..];
        } else {
            return Err(format!("regex metacharacter {c:?} in {body:?}"));
        }
    }
    Ok(out)
}

/// The values of a `/^(?:a|b)$/` body, each read as a literal.
fn alternatives(body: &str) -> Result<Vec<String>, String> {
    let inner = body
        .strip_prefix("^(?:")
        .and_then(|b| b.strip_suffix(")$"))
        .ok_or_else(|| format!("not an anchored alternation: {body:?}"))?;
    inner.split('|').map(literal).collect()
}

fn at() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 123_456_789)
        .single()
        .expect("valid time")
}

/// The tokens of `select`, with each regex body decoded back to its values.
fn select_tokens(select: &Select<'_>) -> Vec<Tok> {
    let mut toks = vec![
        word("SELECT"),
        word(select.function),
        Tok::Punct("("),
        ident(select.field),
        Tok::Punct(")"),
        word("FROM"),
        ident(select.measurement),
        word("WHERE"),
        word("time"),
        Tok::Punct(">"),
        string(&select.after.to_rfc3339_opts(SecondsFormat::Nanos, true)),
        word("AND"),
        word("time"),
        Tok::Punct("<="),
        string(&select.until.to_rfc3339_opts(SecondsFormat::Nanos, true)),
    ];
    match select.filter {
        Filter::Equal { keys, values } => {
            for (k, v) in keys.iter().zip(values) {
                toks.extend([word("AND"), ident(k), Tok::Punct("="), string(v)]);
            }
        }
        Filter::AnyOf { keys, values } => {
            for (k, vs) in keys.iter().zip(values) {
                toks.extend([
                    word("AND"),
                    ident(k),
                    Tok::Punct("=~"),
                    Tok::AnyOf(vs.iter().map(|v| (*v).to_owned()).collect()),
                ]);
            }
        }
    }
    if !select.group_by.is_empty() {
        toks.extend([word("GROUP"), word("BY")]);
        for (i, g) in select.group_by.iter().enumerate() {
            if i > 0 {
                toks.push(Tok::Punct(","));
            }
            toks.push(ident(g));
        }
    }
    toks
}

/// `tokenize`, with each regex body replaced by its decoded alternatives.
fn select_shape(text: &str) -> Result<Vec<Tok>, String> {
    tokenize(text)?
        .into_iter()
        .map(|tok| match tok {
            Tok::Regex(body) => Ok(Tok::AnyOf(alternatives(&body)?)),
            other => Ok(other),
        })
        .collect()
}

fn render(select: &Select<'_>) -> String {
    let mut out = String::new();
    select.write(&mut out);
    out
}

#[test]
fn quotes_only_what_needs_quoting() {
    let mut out = String::new();
    push_ident(&mut out, "a\"b'c\\d\ne;f");
    push_string(&mut out, "a\"b'c\\d\ne;f");
    assert_eq!(out, r#""a\"b'c\\d\ne;f"'a"b\'c\\d\ne;f'"#);
}

#[test]
fn plain_select() {
    let select = Select {
        measurement: "crypto",
        field: "price",
        function: "last",
        after: at() - chrono::Duration::seconds(60),
        until: at(),
        filter: Filter::Equal {
            keys: &["symbol", "venue"],
            values: &["BTC", "x"],
        },
        group_by: &["region"],
    };
    assert_eq!(
        render(&select),
        "SELECT last(\"price\") FROM \"crypto\" WHERE time > '2023-11-14T22:12:20.123456789Z' \
         AND time <= '2023-11-14T22:13:20.123456789Z' AND \"symbol\" = 'BTC' AND \"venue\" = 'x' \
         GROUP BY \"region\""
    );
}

#[test]
fn merged_select_matches_value_sets() {
    let values = [vec!["BTC", "ETH-USD", ""], vec!["x"]];
    let select = Select {
        measurement: "crypto",
        field: "price",
        function: "mean",
        after: at(),
        until: at(),
        filter: Filter::AnyOf {
            keys: &["symbol", "venue"],
            values: &values,
        },
        group_by: &["symbol", "venue"],
    };
    let text = render(&select);
    assert!(
        text.ends_with(
            r#"AND "symbol" =~ /^(?:BTC|ETH\x{2d}USD|)$/ AND "venue" =~ /^(?:x)$/ GROUP BY "symbol","venue""#
        ),
        "{text}"
    );
}

#[test]
fn show_statements() {
    assert_eq!(show_measurements(None, 10), "SHOW MEASUREMENTS LIMIT 10");
    assert_eq!(
        show_measurements(Some(""), 10),
        "SHOW MEASUREMENTS LIMIT 10"
    );
    assert_eq!(
        show_measurements(Some("cpu.a/b\\"), 3),
        r"SHOW MEASUREMENTS WITH MEASUREMENT =~ /^cpu\x{2e}a\x{2f}b\x{5c}/ LIMIT 3"
    );
    assert_eq!(show_field_keys("m\"x"), r#"SHOW FIELD KEYS FROM "m\"x""#);
    assert_eq!(show_tag_keys("m"), r#"SHOW TAG KEYS FROM "m""#);
    assert_eq!(
        show_measurements(None, usize::MAX),
        "SHOW MEASUREMENTS LIMIT 9223372036854775807"
    );
    assert_eq!(
        show_tag_values("m", "k'\n", 5),
        "SHOW TAG VALUES FROM \"m\" WITH KEY = \"k'\\n\" LIMIT 5"
    );
}

#[test]
fn finds_inexpressible_characters() {
    assert_eq!(inexpressible("fine \n\t\"'\\ é"), None);
    assert_eq!(inexpressible("a\rb"), Some('\r'));
    assert_eq!(inexpressible("a\0b"), Some('\0'));
}

/// Any string but the two inexpressible characters, weighted towards the
/// characters that matter to a scanner.
fn name() -> impl Strategy<Value = String> {
    let hostile = prop_oneof![
        Just('"'),
        Just('\''),
        Just('\\'),
        Just('\n'),
        Just(';'),
        Just('/'),
        Just(' '),
        Just('='),
        Just('('),
        Just('-'),
        Just('*'),
        Just('é'),
        Just('😀'),
    ];
    let any = any::<char>().prop_filter("inexpressible", |c| !matches!(c, '\r' | '\0'));
    prop::collection::vec(prop_oneof![hostile, any], 0..12).prop_map(|cs| cs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn names_never_change_a_select_shape(
        measurement in name(),
        field in name(),
        keys in prop::collection::vec(name(), 0..3),
        values in prop::collection::vec(prop::collection::vec(name(), 1..4), 3),
        group_by in prop::collection::vec(name(), 0..3),
        window in 0i64..1_000_000_000,
        merged in any::<bool>(),
    ) {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let sets: Vec<Vec<&str>> = values
            .iter()
            .take(keys.len())
            .map(|vs| vs.iter().map(String::as_str).collect())
            .collect();
        let firsts: Vec<&str> = sets.iter().map(|vs| vs[0]).collect();
        let group_by: Vec<&str> = group_by.iter().map(String::as_str).collect();
        let select = Select {
            measurement: &measurement,
            field: &field,
            function: "first",
            after: at() - chrono::Duration::nanoseconds(window),
            until: at(),
            filter: if merged {
                Filter::AnyOf { keys: &keys, values: &sets }
            } else {
                Filter::Equal { keys: &keys, values: &firsts }
            },
            group_by: &group_by,
        };
        let text = render(&select);
        prop_assert_eq!(select_shape(&text), Ok(select_tokens(&select)), "{}", text);
    }

    #[test]
    fn joined_statements_stay_apart(a in name(), b in name()) {
        let text = [show_field_keys(&a), show_tag_values(&a, &b, 7)].join(";");
        let expected = vec![
            word("SHOW"), word("FIELD"), word("KEYS"), word("FROM"), ident(&a),
            Tok::Punct(";"),
            word("SHOW"), word("TAG"), word("VALUES"), word("FROM"), ident(&a),
            word("WITH"), word("KEY"), Tok::Punct("="), ident(&b), word("LIMIT"),
            Tok::Num("7".to_owned()),
        ];
        prop_assert_eq!(tokenize(&text), Ok(expected), "{}", text);
    }

    #[test]
    fn prefix_regex_matches_the_prefix_literally(
        prefix in prop::collection::vec(any::<char>(), 1..12)
            .prop_map(|cs| cs.into_iter().collect::<String>()),
    ) {
        let text = show_measurements(Some(&prefix), 5);
        let expected = vec![
            word("SHOW"), word("MEASUREMENTS"), word("WITH"), word("MEASUREMENT"),
            Tok::Punct("=~"), Tok::Regex(prefix.clone()), word("LIMIT"),
            Tok::Num("5".to_owned()),
        ];
        let decoded = tokenize(&text).and_then(|toks| {
            toks.into_iter()
                .map(|tok| match tok {
                    Tok::Regex(body) => body
                        .strip_prefix('^')
                        .ok_or_else(|| "unanchored".to_owned())
                        .and_then(literal)
                        .map(Tok::Regex),
                    other => Ok(other),
                })
                .collect::<Result<Vec<_>, _>>()
        });
        prop_assert_eq!(decoded, Ok(expected), "{}", text);
    }
}
