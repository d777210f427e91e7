//! `/metrics` in the Prometheus text format, on the gateway and every
//! service. One recorder per process (`metrics` is process-global): every
//! series carries a `service` label, so the one-process platform serves all
//! of its parts' series on each part's `/metrics`.
//!
//! Every part counts its requests by route template, method and status,
//! with a latency histogram; parts add their own series (pool use, outbox,
//! consumer outcomes, sockets, reservations) through the `metrics` macros.

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets, seconds: 1 ms to 10 s.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The process's recorder, installed on first use.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .expect("buckets are not empty");
            let handle = match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder was installed first (an embedding
                // program's): what is recorded goes there, and this
                // `/metrics` stays empty.
                Err(e) => {
                    tracing::warn!(error = %e, "a metrics recorder was already installed; /metrics will be empty");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            };
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        Unit::Count,
        "Requests answered, by service, route template, method and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a request, by service, route template, method and status"
    );
    describe_gauge!(
        "db_pool_connections",
        Unit::Count,
        "Database connections open, by service and state (idle or used)"
    );
}

/// Keeps histograms bounded between scrapes; stops with `shutdown`.
pub async fn upkeep(shutdown: tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
    let handle = handle();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => handle.run_upkeep(),
        }
    }
}

/// `GET /metrics`, for the machine's and the private network's scrapers
/// only: a request from a public address, directly or through a proxy
/// (`X-Forwarded-For`), is answered 404, as if there were nothing here.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(
        "/metrics",
        get(|req: Request| async move {
            if !from_inside(&req) {
                return crate::ApiError::not_found("Not Found").into_response();
            }
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                handle().render(),
            )
                .into_response()
        }),
    )
}

/// Whether the peer and every address a proxy recorded are loopback or
/// private (RFC 1918, unique-local, link-local).
fn from_inside(req: &Request) -> bool {
    use std::net::IpAddr;
    let inside = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private() || v4.is_link_local())
        }
    };
    let peer_inside = crate::client::peer(req.extensions()).is_none_or(inside);
    let forwarded_inside = req
        .headers()
        .get_all(crate::client::FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .all(|a| a.trim().parse::<IpAddr>().is_ok_and(inside));
    peer_inside && forwarded_inside
}

/// Methods outside the standard ones are one label value, so a client
/// cannot grow the series by inventing methods.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_label(status: axum::http::StatusCode) -> metrics::SharedString {
    let common = match status.as_u16() {
        200 => "200",
        201 => "201",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => return metrics::SharedString::from(status.as_u16().to_string()),
    };
    metrics::SharedString::const_str(common)
}

/// Counts every answer of one part, by the route it matched (`unmatched`
/// for anything no route took, so odd paths cannot grow the series).
pub async fn track(State(service): State<&'static str>, req: Request, next: Next) -> Response {
    use metrics::SharedString;
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(SharedString::const_str("unmatched"), |p| {
            SharedString::from(p.as_str().to_owned())
        });
    let method = method_label(req.method());
    let resp = next.run(req).await;
    // Static label values where they can be: a request allocates only its
    // route's name.
    let labels = [
        metrics::Label::from_static_parts("service", service),
        metrics::Label::new("route", route),
        metrics::Label::from_static_parts("method", method),
        metrics::Label::new("status", status_label(resp.status())),
    ];
    metrics::counter!("http_requests_total", labels.to_vec()).increment(1);
    metrics::histogram!("http_request_duration_seconds", Vec::from(labels))
        .record(started.elapsed());
    resp.into_response()
}

/// How often the gauges read from a database are refreshed.
pub const GAUGE_PERIOD: Duration = Duration::from_secs(5);

/// Runs `refresh` every [`GAUGE_PERIOD`] until `shutdown`; a failed refresh
/// is logged and the gauges keep their last values.
pub async fn every<F, Fut>(
    what: &'static str,
    shutdown: tokio_util::sync::CancellationToken,
    mut refresh: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut tick = tokio::time::interval(GAUGE_PERIOD);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {
                if let Err(e) = refresh().await {
                    metrics::counter!("metrics_refresh_failures_total", "what" => what).increment(1);
                    tracing::warn!(what, error = format!("{e:#}"), "metrics refresh failed; the gauges keep their last values");
                }
            }
        }
    }
}

/// Reports a pool's open and idle connections every few seconds.
#[cfg(feature = "database")]
pub async fn watch_pool(
    service: &'static str,
    pool: sqlx::PgPool,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    every("pool", shutdown, || {
        let open = f64::from(pool.size());
        let idle = pool.num_idle() as f64;
        metrics::gauge!("db_pool_connections", "service" => service, "state" => "idle").set(idle);
        metrics::gauge!("db_pool_connections", "service" => service, "state" => "used")
            .set(open - idle);
        std::future::ready(Ok(()))
    })
    .await
}
