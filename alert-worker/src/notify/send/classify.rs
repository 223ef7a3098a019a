//! What an HTTP answer means for the notification: delivered, worth another
//! try (and when), or refused for good.

use std::time::Duration;

use http::StatusCode;

use crate::notify::Attempt;
use shared_models::{outbound::Answer, time::Timestamp};

/// How much of a receiver's answer is kept with the outcome.
const DETAIL_CHARS: usize = 300;

/// `what` names the destination (a redacted URL) for the error text.
pub(super) fn classify(answer: &Answer, what: &str, now: Timestamp) -> Attempt {
    let status = answer.status;
    let code = Some(status.as_u16());
    let said = excerpt(&answer.body);
    if status.is_success() {
        return Attempt::Delivered {
            status: code,
            detail: said,
        };
    }
    let error = if said.is_empty() {
        format!("{what} answered HTTP {status}")
    } else {
        format!("{what} answered HTTP {status}: {said}")
    };
    if status.is_redirection() {
        return Attempt::Permanent {
            status: code,
            error: format!("{error} (redirects are not followed; use the final URL)"),
        };
    }
    let transient = matches!(
        status,
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_EARLY | StatusCode::TOO_MANY_REQUESTS
    ) || status.is_server_error();
    if !transient {
        return Attempt::Permanent {
            status: code,
            error,
        };
    }
    // Only these two promise anything by their Retry-After.
    let honoured = matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    );
    Attempt::Retry {
        status: code,
        retry_after: answer
            .retry_after
            .as_deref()
            .filter(|_| honoured)
            .and_then(|value| retry_after(value, now)),
        error,
    }
}

/// `Retry-After` as delay seconds or an HTTP date, the date taken relative
/// to the attempt's own clock (a date already past means "now").
pub(super) fn retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at = Timestamp::from(at);
    Some(at.since(now))
}

/// One line, control characters folded to spaces, cut to a few hundred
/// characters: enough to say why, small enough to store.
pub(super) fn excerpt(text: &str) -> String {
    let line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(DETAIL_CHARS + 1)
        .collect();
    if line.chars().count() > DETAIL_CHARS {
        let mut cut: String = line.chars().take(DETAIL_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;

    fn system_time(ms: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap())
    }

    fn answer(status: u16, retry_after: Option<&str>, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: retry_after.map(str::to_owned),
            body: body.to_owned(),
        }
    }

    const NOW: i64 = 1_767_225_600_000;

    #[test]
    fn success_is_delivered_with_the_answer() {
        let got = classify(
            &answer(202, None, "ok\n"),
            "https://x/…",
            Timestamp::from_millis(NOW),
        );
        assert_eq!(
            got,
            Attempt::Delivered {
                status: Some(202),
                detail: "ok".to_owned()
            }
        );
    }

    #[test]
    fn transient_statuses_retry_and_others_do_not() {
        for status in [408, 425, 429, 500, 502, 503, 504] {
            let got = classify(&answer(status, None, ""), "u", Timestamp::from_millis(NOW));
            assert!(matches!(got, Attempt::Retry { .. }), "{status}: {got:?}");
        }
        for status in [400, 401, 403, 404, 410, 413, 422] {
            let got = classify(&answer(status, None, ""), "u", Timestamp::from_millis(NOW));
            assert!(
                matches!(got, Attempt::Permanent { .. }),
                "{status}: {got:?}"
            );
        }
        let got = classify(&answer(301, None, ""), "u", Timestamp::from_millis(NOW));
        let Attempt::Permanent { error, .. } = got else {
            panic!("{got:?}")
        };
        assert!(error.contains("redirects are not followed"), "{error}");
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_only() {
        let delay = |status, value| match classify(
            &answer(status, Some(value), ""),
            "u",
            Timestamp::from_millis(NOW),
        ) {
            Attempt::Retry { retry_after, .. } => retry_after,
            other => panic!("{other:?}"),
        };
        assert_eq!(delay(429, "2"), Some(Duration::from_secs(2)));
        let in_90s = httpdate::fmt_http_date(system_time(NOW + 90_000));
        assert_eq!(delay(503, &in_90s), Some(Duration::from_secs(90)));
        assert_eq!(delay(500, "2"), None);
        let past = httpdate::fmt_http_date(system_time(NOW - 5_000));
        assert_eq!(delay(429, &past), Some(Duration::ZERO));
        assert_eq!(delay(429, "soon"), None);
    }

    #[test]
    fn excerpts_are_one_bounded_line() {
        assert_eq!(excerpt("  a\r\nb\t"), "a  b");
        let long = excerpt(&"é".repeat(1_000));
        assert_eq!(long.chars().count(), DETAIL_CHARS);
        assert!(long.ends_with('…'));
    }
}
