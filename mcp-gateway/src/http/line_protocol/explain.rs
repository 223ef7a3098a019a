//! Why a line the parser refused is wrong, in plain words: the line is read
//! again part by part, since the parser's own errors are mostly about its
//! internals.

/// What is wrong with a line the parser refused, in plain words: found by
/// reading the line again part by part, since the parser's own errors are
/// mostly about its internals.
pub(super) fn explain(raw: &str, error: &influxdb_line_protocol::Error) -> String {
    use influxdb_line_protocol::Error as E;
    if let Some(reason) = diagnose(raw.trim_start_matches([' ', '\t'])) {
        return reason;
    }
    match error {
        E::DuplicateTag { tag_key } => format!("tag {tag_key:?} is repeated; give each tag once"),
        E::MeasurementValueInvalid => "the line does not start with a measurement name".to_owned(),
        E::FieldSetMissing => "the line has no fields".to_owned(),
        E::IntegerValueInvalid { value, .. } => {
            format!("the integer {} is out of range", shown(value))
        }
        E::UIntegerValueInvalid { value, .. } => {
            format!("the unsigned integer {} is out of range", shown(value))
        }
        E::FloatValueInvalid { value, .. } => format!("{} is not a number", shown(value)),
        E::TimestampValueInvalid { value, .. } => format!(
            "the timestamp {} is not a whole number in range",
            shown(value)
        ),
        E::EndsWithBackslash => "a name or tag value ends with a backslash".to_owned(),
        E::CannotParseEntireLine { trailing_content } => {
            format!("unexpected text {}", shown(trailing_content))
        }
        E::TagSetMalformed => "the tags are malformed; each reads ,name=value".to_owned(),
        _ => "the line could not be read".to_owned(),
    }
}

/// A part of a line quoted for an error message, cut short if long.
fn shown(part: &str) -> String {
    const MAX: usize = 40;
    if part.chars().count() > MAX {
        let head: String = part.chars().take(MAX).collect();
        format!("\"{}…\"", head.escape_debug())
    } else {
        format!("{part:?}")
    }
}

/// The separator of the parts of a line: a space, never a tab.
fn is_space(c: char) -> bool {
    c == ' '
}

/// `text` up to the first unescaped character for which `stop` holds, and
/// the rest from that character on.
fn split_unescaped(text: &str, stop: impl Fn(char) -> bool) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if stop(c) {
            return (&text[..i], &text[i..]);
        }
    }
    (text, "")
}

/// The first thing wrong with `line`, part by part; `None` if this reading
/// finds nothing (the parser's own reason is used then).
pub(super) fn diagnose(line: &str) -> Option<String> {
    let (series, rest) = split_unescaped(line, is_space);
    let (measurement, mut tags) = split_unescaped(series, |c| c == ',');
    if measurement.is_empty() {
        return Some("the line does not start with a measurement name".to_owned());
    }
    if measurement.ends_with('\\') {
        return Some(format!(
            "the measurement name {} ends with a backslash",
            shown(measurement)
        ));
    }
    // As the parser reads them: a tag name runs to its `=` (commas
    // included), a value to the next comma.
    while let Some(after_comma) = tags.strip_prefix(',') {
        let (key, after_key) = split_unescaped(after_comma, |c| c == '=');
        let Some(after_equals) = after_key.strip_prefix('=') else {
            return Some(if key.is_empty() {
                "there is an empty tag (a comma before the space)".to_owned()
            } else {
                format!("tag {} has no value; write it as name=value", shown(key))
            });
        };
        let (value, next) = split_unescaped(after_equals, |c| c == ',');
        tags = next;
        if key.is_empty() {
            return Some(format!("a tag has no name before ={}", shown(value)));
        }
        if value.is_empty() {
            return Some(format!(
                "tag {} has an empty value; leave the tag out instead",
                shown(key)
            ));
        }
        if key.ends_with('\\') || value.ends_with('\\') {
            return Some(format!("tag {} ends with a backslash", shown(key)));
        }
    }
    let fields = rest.trim_start_matches(is_space);
    if fields.is_empty() {
        return Some(if series.contains('=') {
            "the line has no fields; put a space between the tags and the fields".to_owned()
        } else {
            "the line has no fields; after the measurement and tags put a space, then at \
             least one field such as value=1.5"
                .to_owned()
        });
    }
    diagnose_fields(fields)
}

fn diagnose_fields(mut rest: &str) -> Option<String> {
    loop {
        // A field name runs to its `=`, commas included, as the parser
        // reads it.
        let (key, after_key) = split_unescaped(rest, |c| c == '=' || is_space(c));
        let Some(value_and_rest) = after_key.strip_prefix('=') else {
            return Some(if key.is_empty() {
                "there is an empty field (a comma before a space)".to_owned()
            } else if after_key.starts_with(is_space) {
                format!(
                    "field {} has no value; write it as {key}=1.5, or, if it belongs to the \
                     measurement or a tag value, escape the space before it as \\ and a space",
                    shown(key)
                )
            } else {
                format!("field {} has no value; write it as {key}=1.5", shown(key))
            });
        };
        if key.is_empty() {
            return Some(format!(
                "a field has no name before ={}",
                shown(split_unescaped(value_and_rest, |c| c == ',' || is_space(c)).0)
            ));
        }
        let after_value = if let Some(quoted) = value_and_rest.strip_prefix('"') {
            match closing_quote(quoted) {
                Some(end) => &quoted[end + 1..],
                None => {
                    return Some(format!(
                        "the text value of field {} has no closing double quote",
                        shown(key)
                    ));
                }
            }
        } else {
            let (value, after) = split_unescaped(value_and_rest, |c| c == ',' || is_space(c));
            if value.is_empty() {
                return Some(format!(
                    "field {} has no value; write it as {key}=1.5",
                    shown(key)
                ));
            }
            if let Some(reason) = bad_value(key, value) {
                return Some(reason);
            }
            after
        };
        if let Some(next) = after_value.strip_prefix(',') {
            rest = next;
            continue;
        }
        if after_value.is_empty() {
            return None;
        }
        if !after_value.starts_with(is_space) {
            return Some(format!(
                "field {} is followed by {}; separate fields with commas",
                shown(key),
                shown(after_value)
            ));
        }
        return diagnose_timestamp(after_value.trim_matches(is_space));
    }
}

/// The byte offset of the quote that closes a string value, in the text
/// after its opening quote.
fn closing_quote(quoted: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Why an unquoted field value is not one line protocol accepts.
fn bad_value(key: &str, value: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let signed = |s: &str| digits(s.strip_prefix('-').unwrap_or(s));
    let float = |s: &str| {
        let s = s.strip_prefix('-').unwrap_or(s);
        let (mantissa, exponent) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let mantissa_ok = match mantissa.split_once('.') {
            Some((whole, fraction)) => digits(whole) && digits(fraction),
            None => digits(mantissa),
        };
        let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
        mantissa_ok && exponent_ok
    };
    let boolean = matches!(
        value,
        "t" | "T" | "true" | "True" | "TRUE" | "f" | "F" | "false" | "False" | "FALSE"
    );
    let out_of_range = |what: &str| {
        format!(
            "the {what} {} of field {} is out of range",
            shown(value),
            shown(key)
        )
    };
    if let Some(int) = value.strip_suffix('i')
        && signed(int)
    {
        return int.parse::<i64>().is_err().then(|| out_of_range("integer"));
    }
    if let Some(uint) = value.strip_suffix('u')
        && digits(uint)
    {
        return uint
            .parse::<u64>()
            .is_err()
            .then(|| out_of_range("unsigned integer"));
    }
    if float(value) || boolean {
        return None;
    }
    Some(format!(
        "field {} has the value {}, which is not a number (such as 1.5, -2i for an integer or 3u \
         for an unsigned one)",
        shown(key),
        shown(value)
    ))
}

fn diagnose_timestamp(rest: &str) -> Option<String> {
    let (timestamp, after) = split_unescaped(rest, is_space);
    if !after.trim_matches(is_space).is_empty() {
        return Some(format!(
            "unexpected {} after the timestamp; a space inside a name or tag value must be \
             escaped as \\ followed by the space",
            shown(after.trim_matches(is_space))
        ));
    }
    let whole = timestamp
        .strip_prefix('-')
        .unwrap_or(timestamp)
        .bytes()
        .all(|b| b.is_ascii_digit());
    if !whole || timestamp.parse::<i64>().is_err() {
        return Some(format!(
            "the timestamp {} is not a whole number (nanoseconds since 1970, or the unit the \
             precision parameter names)",
            shown(timestamp)
        ));
    }
    None
}
