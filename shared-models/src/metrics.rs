//! Prometheus exposition shared by both binaries: each keeps its own
//! registry (never the crate's global one, so tests and an embedded worker
//! count on their own), registers its metrics through [`register`], and
//! answers `/metrics` with [`exposition`] on a port apart from user traffic.

use http::{Response, StatusCode, header};
use prometheus::{Registry, TextEncoder, core::Collector};

/// The media type of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Adds `metric` to `registry` and hands it back for recording.
pub fn register<M>(registry: &Registry, metric: prometheus::Result<M>) -> prometheus::Result<M>
where
    M: Collector + Clone + 'static,
{
    let metric = metric?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// Every metric of `registry`, in the Prometheus text format ([`CONTENT_TYPE`]).
pub fn render(registry: &Registry) -> prometheus::Result<String> {
    TextEncoder::new().encode_to_string(&registry.gather())
}

/// The answer to a scrape: the rendered registry, or a 500 whose cause is
/// logged (the scraper needs only to know the scrape failed).
pub fn exposition(registry: &Registry) -> Response<String> {
    let (status, content_type, body) = match render(registry) {
        Ok(text) => (StatusCode::OK, CONTENT_TYPE, text),
        Err(error) => {
            tracing::error!(error = %crate::chain(&error), "rendering metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                String::new(),
            )
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use prometheus::IntCounter;

    use super::*;

    #[test]
    fn a_registered_metric_is_rendered_with_its_type() {
        let registry = Registry::new();
        let counter = register(&registry, IntCounter::new("things_total", "Things.")).unwrap();
        counter.inc_by(3);
        let response = exposition(&registry);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        assert!(
            response
                .body()
                .contains("# TYPE things_total counter\nthings_total 3\n"),
            "{}",
            response.body()
        );
        // The same name twice is refused, not silently shared.
        assert!(register(&registry, IntCounter::new("things_total", "Again.")).is_err());
    }
}
