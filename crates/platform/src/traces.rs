//! OpenTelemetry traces: W3C trace context in and out of every hop, spans
//! exported over OTLP/HTTP (protobuf) from a batch thread.
//!
//! Off unless configured (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER=otlp`): then
//! no layer is installed and every function here returns at its first line.
//!
//! One process may run several parts (`cargo xtask up` runs them all). Each
//! part's root spans carry the part in their OpenTelemetry context, every
//! descendant inherits it, and the exporter sends each span under its own
//! part's `service.name`.
//!
//! Database queries become spans from sqlx's own statement events, which
//! carry the elapsed time ([`QuerySpans`]).

use crate::config::Env;
use anyhow::{Context as _, Result, bail};
use axum::http::HeaderMap;
use opentelemetry::{
    Context, KeyValue,
    propagation::{TextMapCompositePropagator, TextMapPropagator},
    trace::{Span as _, SpanKind, TraceContextExt, Tracer as _, TracerProvider as _},
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    propagation::{BaggagePropagator, TraceContextPropagator},
    trace::{
        BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanData,
        SpanExporter, SpanProcessor,
    },
};
use std::{
    collections::HashMap,
    sync::OnceLock,
    time::{Duration, SystemTime},
};
use tracing::{Subscriber, field::Visit};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{Layer, layer, registry::LookupSpan};

/// Where and how spans are exported, from the standard `OTEL_*` variables.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// The full OTLP/HTTP traces URL (`…/v1/traces`).
    pub endpoint: String,
    pub sampler: Sampler,
    /// `OTEL_SERVICE_NAME`: the name of a binary that runs one part.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource: Vec<(String, String)>,
    /// `OTEL_BSP_SCHEDULE_DELAY`: the longest a finished span waits to be sent.
    pub schedule_delay: Duration,
}

/// The collector's OTLP/HTTP port on this machine, as the specification
/// defaults it.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

impl TraceSettings {
    /// `None` when tracing is off: nothing configured, `OTEL_SDK_DISABLED=true`
    /// or `OTEL_TRACES_EXPORTER=none`.
    pub fn from_env(env: &Env) -> Result<Option<Self>> {
        if env.parse_or("OTEL_SDK_DISABLED", false)? {
            return Ok(None);
        }
        let signal = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        let general = env.get("OTEL_EXPORTER_OTLP_ENDPOINT");
        match env.get("OTEL_TRACES_EXPORTER").map(str::to_ascii_lowercase) {
            Some(e) if e == "none" => return Ok(None),
            Some(e) if e == "otlp" => {}
            Some(other) => bail!("OTEL_TRACES_EXPORTER must be `otlp` or `none`, not `{other}`"),
            None if signal.is_none() && general.is_none() => return Ok(None),
            None => {}
        }
        let protocols = [
            (
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
            ),
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                env.get("OTEL_EXPORTER_OTLP_PROTOCOL"),
            ),
        ];
        for (var, value) in protocols {
            if let Some(p) = value
                && p != "http/protobuf"
            {
                bail!(
                    "{var}: only `http/protobuf` is built in (the collector's port 4318), not `{p}`"
                );
            }
        }
        // A signal's own URL is used as it is; the general one gets the
        // signal's path (the OTLP exporter specification).
        let endpoint = match (signal, general) {
            (Some(url), _) => url.to_owned(),
            (None, base) => format!(
                "{}/v1/traces",
                base.unwrap_or(DEFAULT_ENDPOINT).trim_end_matches('/')
            ),
        };
        let uri: axum::http::Uri = endpoint.parse().with_context(|| {
            format!("the OTLP traces endpoint `{endpoint}` must be an http(s) URL")
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            bail!("the OTLP traces endpoint `{endpoint}` must be an http(s) URL with a host");
        }
        Ok(Some(Self {
            endpoint,
            sampler: sampler(
                env.get("OTEL_TRACES_SAMPLER"),
                env.get("OTEL_TRACES_SAMPLER_ARG"),
            )?,
            service_name: env.get("OTEL_SERVICE_NAME").map(str::to_owned),
            resource: resource_attributes(env.get("OTEL_RESOURCE_ATTRIBUTES").unwrap_or(""))?,
            schedule_delay: Duration::from_millis(env.parse_or("OTEL_BSP_SCHEDULE_DELAY", 5000)?),
        }))
    }
}

/// `OTEL_TRACES_SAMPLER` and its argument, as the SDK specification names them.
fn sampler(name: Option<&str>, arg: Option<&str>) -> Result<Sampler> {
    let ratio = || -> Result<f64> {
        let Some(arg) = arg else { return Ok(1.0) };
        match arg.trim().parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => bail!("OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, not `{arg}`"),
        }
    };
    Ok(
        match name
            .unwrap_or("parentbased_always_on")
            .to_ascii_lowercase()
            .as_str()
        {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatioBased(ratio()?),
            "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            "parentbased_traceidratio" => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio()?)))
            }
            other => bail!(
                "OTEL_TRACES_SAMPLER `{other}` is not one of always_on, always_off, traceidratio, \
                 parentbased_always_on, parentbased_always_off, parentbased_traceidratio"
            ),
        },
    )
}

/// `key1=value1,key2=value2`, values percent-encoded.
fn resource_attributes(list: &str) -> Result<Vec<(String, String)>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("OTEL_RESOURCE_ATTRIBUTES: `{pair}` is not key=value"))?;
            let v = percent_decode(v.trim()).with_context(|| {
                format!("OTEL_RESOURCE_ATTRIBUTES: `{pair}` is badly percent-encoded")
            })?;
            Ok((k.trim().to_owned(), v))
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The part a span belongs to. Root spans put it in their context; every
/// descendant inherits the context, so the exporter knows each span's part.
#[derive(Debug, Clone, Copy)]
struct Part(&'static str);

/// The attribute that carries a span's part from start to export, where it
/// is taken off again and becomes the resource's `service.name`.
const PART_KEY: &str = "shop.part";

struct Pipeline {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    propagator: TextMapCompositePropagator,
}

static PIPELINE: OnceLock<Pipeline> = OnceLock::new();

/// Whether spans are exported from this process.
pub fn enabled() -> bool {
    PIPELINE.get().is_some()
}

/// The tracing layers that export spans, or `None` when this process
/// already has a pipeline. `parts` are the parts this process runs; the
/// first one also owns any span that started outside every part.
pub(crate) fn install<S>(
    settings: &TraceSettings,
    parts: &[&'static str],
) -> Result<Option<Vec<Box<dyn Layer<S> + Send + Sync>>>>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    if PIPELINE.get().is_some() {
        return Ok(None);
    }
    let parts = if parts.is_empty() {
        &["shop"][..]
    } else {
        parts
    };
    let mut exporters = Vec::new();
    for part in parts {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(settings.endpoint.clone())
            .build()
            .context("building the OTLP span exporter")?;
        let name = match (&settings.service_name, parts.len()) {
            (Some(name), 1) => name.clone(),
            _ => (*part).to_owned(),
        };
        exporters.push((*part, name, exporter));
    }
    let batch = BatchSpanProcessor::builder(ByPart { exporters })
        // Large batches: one export request carries up to 2,048 spans, and
        // 16,384 may wait (past that, new spans are dropped, never waited for).
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(settings.schedule_delay)
                .with_max_queue_size(16_384)
                .with_max_export_batch_size(2_048)
                .build(),
        )
        .build();
    let mut resource = Resource::builder_empty()
        .with_detector(Box::new(
            opentelemetry_sdk::resource::TelemetryResourceDetector,
        ))
        .with_attribute(KeyValue::new("service.namespace", "shop"));
    for (k, v) in &settings.resource {
        resource = resource.with_attribute(KeyValue::new(k.clone(), v.clone()));
    }
    let provider = SdkTracerProvider::builder()
        .with_sampler(settings.sampler.clone())
        .with_resource(resource.build())
        .with_span_processor(TagPart { inner: batch })
        .build();
    let tracer = provider.tracer("shop");
    let pipeline = Pipeline {
        provider,
        tracer: tracer.clone(),
        propagator: TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]),
    };
    if PIPELINE.set(pipeline).is_err() {
        return Ok(None);
    }
    fn exported(meta: &tracing::Metadata<'_>) -> bool {
        meta.target().starts_with("shop_") && *meta.level() <= tracing::Level::INFO
    }
    // The query layer sees the exported spans too: a per-layer filter hides
    // from its layer every span it does not enable.
    let queries = tracing_subscriber::filter::filter_fn(|meta| {
        meta.target() == "sqlx::query" || (meta.is_span() && exported(meta))
    });
    let exported = tracing_subscriber::filter::filter_fn(exported);
    Ok(Some(vec![
        // Only what a span says itself: no source location, thread or
        // target attributes, no busy/idle timing at every poll, and no
        // OpenTelemetry context attached to the thread at every poll (a
        // span's parent is its tracing parent). Each costs time per span.
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
            .with_filter(exported)
            .boxed(),
        QuerySpans.with_filter(queries).boxed(),
    ]))
}

/// Sends what is still buffered; returns when it was sent or gave up.
pub fn flush() {
    if let Some(p) = PIPELINE.get()
        && let Err(e) = p.provider.force_flush()
    {
        tracing::warn!(error = %e, "could not send the last spans");
    }
}

/// Flushes and stops the exporter (the end of `main`).
pub(crate) fn shutdown() {
    if let Some(p) = PIPELINE.get() {
        let _ = p.provider.shutdown();
    }
}

/// Puts a part's root span into the trace its caller sent (`traceparent`,
/// `tracestate`, `baggage`), or starts a new trace; the span is then the
/// part's. Also records `trace_id` and `span_id` on it for the log lines.
pub fn continue_from_headers(span: &tracing::Span, headers: &HeaderMap, part: &'static str) {
    let Some(p) = PIPELINE.get() else { return };
    let cx = p.propagator.extract(&HeaderExtractor(headers));
    adopt(span, cx, part);
}

/// As [`continue_from_headers`], from a carrier stored or sent beside a
/// message (an outbox row, an SNS message's attributes, a push).
pub fn continue_from(span: &tracing::Span, carrier: &HashMap<String, String>, part: &'static str) {
    let Some(p) = PIPELINE.get() else { return };
    let cx = p.propagator.extract(carrier);
    adopt(span, cx, part);
}

/// A root span of `part` that follows nothing (a background task's).
pub fn start_in(span: &tracing::Span, part: &'static str) {
    if PIPELINE.get().is_some() {
        adopt(span, Context::new(), part);
    }
}

fn adopt(span: &tracing::Span, cx: Context, part: &'static str) {
    let _ = span.set_parent(cx.with_value(Part(part)));
    let cx = span.context();
    let ids = cx.span().span_context().clone();
    if ids.is_valid() {
        span.record("trace_id", hex(&ids.trace_id().to_bytes()).as_str());
        span.record("span_id", hex(&ids.span_id().to_bytes()).as_str());
    }
}

/// Sets an attribute on `span`'s exported span only (log lines do not
/// carry it).
pub fn set_attribute(
    span: &tracing::Span,
    key: &'static str,
    value: impl Into<opentelemetry::Value>,
) {
    if PIPELINE.get().is_some() {
        span.set_attribute(key, value);
    }
}

/// Records an HTTP answer's status on `span` (a server or client span):
/// `http.response.status_code`, and an error status for a 5xx.
pub fn record_status(span: &tracing::Span, status: axum::http::StatusCode) {
    if PIPELINE.get().is_none() {
        return;
    }
    span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.set_status(opentelemetry::trace::Status::error(status.to_string()));
    }
}

/// Marks `span`'s exported span as failed.
pub fn record_error(span: &tracing::Span, why: &str) {
    if PIPELINE.get().is_some() {
        span.set_status(opentelemetry::trace::Status::error(why.to_owned()));
    }
}

/// Lower-case hex, as W3C trace context writes ids (cheaper than `Display`
/// through the formatting machinery, per span).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Writes the context of `span` into outgoing request headers, replacing
/// whatever trace headers the request carried.
pub fn inject_headers(span: &tracing::Span, headers: &mut HeaderMap) {
    let Some(p) = PIPELINE.get() else { return };
    for name in ["traceparent", "tracestate", "baggage"] {
        headers.remove(name);
    }
    p.propagator
        .inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// The context of `span` as a carrier to store or send beside a message;
/// `None` when tracing is off or the span is not in a trace.
pub fn carrier(span: &tracing::Span) -> Option<HashMap<String, String>> {
    let p = PIPELINE.get()?;
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut map = HashMap::new();
    p.propagator.inject_context(&cx, &mut map);
    Some(map)
}

/// [`carrier`] as JSON, the form an outbox row or a push keeps.
pub fn carrier_json(span: &tracing::Span) -> Option<String> {
    carrier(span).and_then(|m| serde_json::to_string(&m).ok())
}

/// Reads back what [`carrier_json`] wrote; nothing when absent or unreadable.
pub fn carrier_from_json(json: Option<&str>) -> HashMap<String, String> {
    json.and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default()
}

/// Tags every span with its part at start, so [`ByPart`] can route it.
#[derive(Debug)]
struct TagPart {
    inner: BatchSpanProcessor,
}

impl SpanProcessor for TagPart {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        if let Some(Part(part)) = cx.get::<Part>() {
            span.set_attribute(KeyValue::new(PART_KEY, *part));
        }
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// One OTLP exporter per part, each with its own `service.name`; a batch is
/// split by the parts its spans were tagged with.
#[derive(Debug)]
struct ByPart {
    exporters: Vec<(&'static str, String, opentelemetry_otlp::SpanExporter)>,
}

impl SpanExporter for ByPart {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut groups: Vec<Vec<SpanData>> = self.exporters.iter().map(|_| Vec::new()).collect();
        for mut span in batch {
            let tag = span
                .attributes
                .iter()
                .position(|kv| kv.key.as_str() == PART_KEY)
                .map(|i| span.attributes.remove(i));
            let index = tag
                .and_then(|kv| {
                    let part = kv.value.as_str();
                    self.exporters.iter().position(|(p, ..)| *p == part)
                })
                .unwrap_or(0);
            groups[index].push(span);
        }
        let mut outcome = Ok(());
        for (group, (_, _, exporter)) in groups.into_iter().zip(&self.exporters) {
            if group.is_empty() {
                continue;
            }
            let n = group.len() as u64;
            match exporter.export(group).await {
                Ok(()) => metrics::counter!("traces_spans_exported_total").increment(n),
                Err(e) => {
                    metrics::counter!("traces_spans_failed_total").increment(n);
                    tracing::warn!(error = %e, spans = n, "could not export spans");
                    outcome = Err(e);
                }
            }
        }
        outcome
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        for (_, _, exporter) in &self.exporters {
            exporter.shutdown_with_timeout(timeout)?;
        }
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        for (_, name, exporter) in &mut self.exporters {
            let own = Resource::builder_empty()
                .with_attributes(
                    resource
                        .iter()
                        .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
                )
                .with_service_name(name.clone())
                .build();
            exporter.set_resource(&own);
        }
    }
}

/// Turns sqlx's statement events (sent when a query finishes, with its
/// elapsed time) into client spans of the span that ran the query.
#[derive(Debug)]
struct QuerySpans;

impl<S> Layer<S> for QuerySpans
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: layer::Context<'_, S>) {
        let Some(pipeline) = PIPELINE.get() else {
            return;
        };
        let Some(current) = ctx.event_span(event) else {
            return;
        };
        let id = current.id();
        drop(current);
        let Some(parent) =
            tracing::dispatcher::get_default(|d| tracing_opentelemetry::get_otel_context(&id, d))
        else {
            return;
        };
        if !parent.span().span_context().is_valid() {
            return;
        }
        let mut q = QueryFields::default();
        event.record(&mut q);
        let end = SystemTime::now();
        let start = end
            .checked_sub(Duration::from_secs_f64(q.elapsed_secs.max(0.0)))
            .unwrap_or(end);
        let summary = q.summary.trim_end_matches('…').trim().to_owned();
        let text = if q.statement.trim().is_empty() {
            summary.clone()
        } else {
            q.statement.trim().to_owned()
        };
        let mut span = pipeline
            .tracer
            .span_builder(summary)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("db.system.name", "postgresql"),
                KeyValue::new("db.query.text", text),
                KeyValue::new("db.response.returned_rows", q.rows_returned),
                KeyValue::new("db.response.affected_rows", q.rows_affected),
            ])
            .start_with_context(&pipeline.tracer, &parent);
        span.end_with_timestamp(end);
    }
}

#[derive(Default)]
struct QueryFields {
    summary: String,
    statement: String,
    rows_returned: i64,
    rows_affected: i64,
    elapsed_secs: f64,
}

impl Visit for QueryFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.clone_into(&mut self.statement),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        match field.name() {
            "rows_returned" => self.rows_returned = value,
            "rows_affected" => self.rows_affected = value,
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn off_unless_configured() {
        assert!(TraceSettings::from_env(&env(&[])).unwrap().is_none());
        let off = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ]);
        assert!(TraceSettings::from_env(&off).unwrap().is_none());
        let disabled = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ]);
        assert!(TraceSettings::from_env(&disabled).unwrap().is_none());
    }

    #[test]
    fn endpoints_follow_the_exporter_specification() {
        let s = |pairs: &[(&str, &str)]| TraceSettings::from_env(&env(pairs)).unwrap().unwrap();
        assert_eq!(
            s(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318/")]).endpoint,
            "http://jaeger:4318/v1/traces"
        );
        assert_eq!(
            s(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:9/x")]).endpoint,
            "http://c:9/x"
        );
        assert_eq!(
            s(&[("OTEL_TRACES_EXPORTER", "otlp")]).endpoint,
            "http://localhost:4318/v1/traces"
        );
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        let err = |pairs: &[(&str, &str)]| {
            format!("{:#}", TraceSettings::from_env(&env(pairs)).unwrap_err())
        };
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        assert!(err(&[base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).contains("http/protobuf"));
        assert!(err(&[base, ("OTEL_TRACES_SAMPLER", "sometimes")]).contains("OTEL_TRACES_SAMPLER"));
        assert!(
            err(&[
                base,
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "2")
            ])
            .contains("OTEL_TRACES_SAMPLER_ARG")
        );
        assert!(err(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "jaeger")]).contains("http(s) URL"));
        assert!(err(&[base, ("OTEL_RESOURCE_ATTRIBUTES", "a")]).contains("key=value"));
    }

    #[test]
    fn resource_attributes_are_percent_decoded() {
        assert_eq!(
            resource_attributes("deployment.environment.name=eu%20west, team=shop").unwrap(),
            vec![
                ("deployment.environment.name".into(), "eu west".into()),
                ("team".into(), "shop".into())
            ]
        );
    }
}
