//! One checkout is one trace: the gateway, orders, products and
//! notifications spans arrive at an OTLP receiver with correct parents,
//! through the in-process bus and through SNS/SQS on moto; a sampled-out
//! request exports nothing.
//!
//! This file is its own process: its subscriber exports every span to the
//! receiver of `shop_testkit::otlp::exporting`.

use serde_json::Value;
use shop_testkit::{
    Shop, TestStack, eventually,
    otlp::{ReceivedSpan, exporting},
    unique_tag,
};
use std::time::Duration;

const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;

/// A random trace id and parent span id, as a caller of the gateway would send.
fn ids() -> (String, String) {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let parent = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    (trace, parent)
}

struct Shopper {
    t: TestStack,
    buyer: String,
    product: i64,
}

async fn shopper(t: TestStack) -> Shopper {
    let tag = unique_tag();
    let admin = t.admin_token().await;
    let buyer = t
        .sign_up(&format!("trace-{tag}@example.com"), &format!("trace-{tag}"))
        .await;
    let product = t
        .create_product(&admin, &format!("TRC-{tag}"), "4.20", 10)
        .await;
    Shopper { t, buyer, product }
}

impl Shopper {
    /// `POST /orders` through the gateway with the given trace headers.
    async fn checkout(&self, headers: &[(&str, &str)]) -> Value {
        let mut req = self
            .t
            .client
            .post(format!("{}/orders", self.t.gateway()))
            .bearer_auth(&self.buyer)
            .json(&serde_json::json!({"items": [{"product_id": self.product, "quantity": 1}]}));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("order sent");
        assert_eq!(resp.status(), 201);
        resp.json().await.expect("an order")
    }

    /// Waits until the order's confirmation email is recorded as sent.
    async fn wait_until_notified(&self, order_id: &Value) {
        eventually(Duration::from_secs(30), || async {
            let (_, list) = self.t.get_as(&self.buyer, "/notifications").await;
            list["notifications"]
                .as_array()?
                .iter()
                .any(|n| n["order_id"] == *order_id && n["status"] == "sent")
                .then_some(())
        })
        .await
        .expect("the order's email is sent");
    }
}

fn find<'a>(
    spans: &'a [ReceivedSpan],
    service: &str,
    what: impl Fn(&ReceivedSpan) -> bool,
) -> Option<&'a ReceivedSpan> {
    spans.iter().find(|s| s.service == service && what(s))
}

fn parent<'a>(spans: &'a [ReceivedSpan], child: &ReceivedSpan) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.span_id == child.parent_span_id)
        .unwrap_or_else(|| panic!("the parent of {child:?} was exported"))
}

fn descends_from(spans: &[ReceivedSpan], span: &ReceivedSpan, ancestor: &ReceivedSpan) -> bool {
    let mut at = span;
    while !at.parent_span_id.is_empty() {
        match spans.iter().find(|s| s.span_id == at.parent_span_id) {
            Some(p) if p.span_id == ancestor.span_id => return true,
            Some(p) => at = p,
            None => return false,
        }
    }
    false
}

/// Waits for the trace of one checkout to hold its last spans: the
/// consumer's processing and the toast. Spans leave in the order they end,
/// so everything that ended before those is there too.
async fn whole_trace(trace_id: &str) -> Vec<ReceivedSpan> {
    let receiver = exporting();
    eventually(Duration::from_secs(30), || async {
        let spans = receiver.trace(trace_id);
        let done = find(&spans, "notifications", |s| s.kind == CONSUMER).is_some()
            && find(&spans, "notifications", |s| s.name == "toast push").is_some()
            && find(&spans, "notifications", |s| s.name == "smtp send").is_some()
            && find(&spans, "gateway", |s| s.kind == SERVER).is_some();
        done.then_some(spans)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the checkout's trace was not complete within 30 s: {:#?}",
            receiver.trace(trace_id)
        )
    })
}

/// What one checkout's trace must show, whichever bus carried its event.
fn assert_one_checkout(spans: &[ReceivedSpan], caller_parent: &str, request_id: &str) {
    // The gateway continued the caller's trace rather than starting one.
    let edge = find(spans, "gateway", |s| {
        s.kind == SERVER && s.name == "POST /orders"
    })
    .or_else(|| find(spans, "gateway", |s| s.kind == SERVER))
    .expect("a gateway server span");
    assert_eq!(edge.parent_span_id, caller_parent, "{edge:?}");
    assert_eq!(
        edge.attributes.get("request_id").map(String::as_str),
        Some(request_id)
    );
    // Every other span's parent is a span of the same trace.
    for span in spans {
        if span.span_id != edge.span_id {
            parent(spans, span);
        }
    }
    // The hops, each parented by the one before.
    let orders = find(spans, "orders", |s| s.kind == SERVER).expect("an orders server span");
    let hop = parent(spans, orders);
    assert_eq!(
        (hop.service.as_str(), hop.kind),
        ("gateway", CLIENT),
        "{hop:?}"
    );
    assert_eq!(
        hop.parent_span_id, edge.span_id,
        "the hop is the gateway's: {hop:?}"
    );
    assert_eq!(
        orders.attributes.get("request_id").map(String::as_str),
        Some(request_id)
    );
    let products = find(spans, "products", |s| {
        s.kind == SERVER
            && s.attributes
                .get("path")
                .is_some_and(|p| p == "/internal/reservations")
    })
    .expect("a products server span for the reservation");
    let hop = parent(spans, products);
    assert_eq!(
        (hop.service.as_str(), hop.kind),
        ("orders", CLIENT),
        "{hop:?}"
    );
    let process = find(spans, "notifications", |s| s.kind == CONSUMER).expect("a consumer span");
    let publish = parent(spans, process);
    assert_eq!(
        (publish.service.as_str(), publish.kind),
        ("orders", PRODUCER),
        "{publish:?}"
    );
    assert!(
        descends_from(spans, publish, orders),
        "the publish follows the order's request"
    );
    for name in ["smtp send", "toast push"] {
        let span = find(spans, "notifications", |s| s.name == name).expect(name);
        assert!(
            descends_from(spans, span, process),
            "{name} is part of the processing"
        );
    }
    // Queries are spans of the part that ran them.
    for service in ["orders", "products", "notifications"] {
        let query = find(spans, service, |s| {
            s.kind == CLIENT
                && s.attributes
                    .get("db.system.name")
                    .is_some_and(|v| v == "postgresql")
        });
        assert!(query.is_some(), "{service} exported no query span");
    }
}

async fn one_checkout_is_one_trace(t: TestStack) {
    exporting();
    let s = shopper(t).await;
    let (trace_id, caller_parent) = ids();
    let request_id = format!("trace-{}", unique_tag());
    let traceparent = format!("00-{trace_id}-{caller_parent}-01");
    let order = s
        .checkout(&[("traceparent", &traceparent), ("x-request-id", &request_id)])
        .await;
    let spans = whole_trace(&trace_id).await;
    assert_one_checkout(&spans, &caller_parent, &request_id);
    s.wait_until_notified(&order["id"]).await;
    s.t.finish().await;
}

#[tokio::test]
async fn a_checkout_is_one_trace_on_the_in_process_bus() {
    one_checkout_is_one_trace(TestStack::start().await).await;
}

#[tokio::test]
async fn a_checkout_is_one_trace_across_sns_and_sqs() {
    one_checkout_is_one_trace(TestStack::start_on_infra(&[]).await).await;
}

#[tokio::test]
async fn a_sampled_out_request_exports_nothing_and_a_new_trace_starts_at_the_gateway() {
    let receiver = exporting();
    let s = shopper(TestStack::start().await).await;
    let (quiet_trace, quiet_parent) = ids();
    let quiet_id = format!("quiet-{}", unique_tag());
    let quiet = s
        .checkout(&[
            (
                "traceparent",
                &format!("00-{quiet_trace}-{quiet_parent}-00"),
            ),
            ("x-request-id", &quiet_id),
        ])
        .await;
    // A checkout with no trace headers starts its own trace at the gateway.
    let request_id = format!("fresh-{}", unique_tag());
    let fresh = s.checkout(&[("x-request-id", &request_id)]).await;
    s.wait_until_notified(&quiet["id"]).await;
    s.wait_until_notified(&fresh["id"]).await;
    let edge = eventually(Duration::from_secs(30), || async {
        receiver.spans().into_iter().find(|sp| {
            sp.service == "gateway"
                && sp.kind == SERVER
                && sp.attributes.get("request_id") == Some(&request_id)
        })
    })
    .await
    .expect("the gateway exported the new trace");
    assert!(
        edge.parent_span_id.is_empty(),
        "a new trace starts at the gateway: {edge:?}"
    );
    let spans = whole_trace(&edge.trace_id).await;
    assert!(find(&spans, "orders", |sp| sp.kind == SERVER).is_some());
    // Everything of the quiet checkout has ended by now; what is buffered
    // is sent before looking.
    shop_platform::traces::flush();
    assert_eq!(
        receiver.trace(&quiet_trace),
        Vec::new(),
        "a sampled-out checkout exported spans"
    );
    // Nor did a later hop start a trace of its own for it: every request
    // span and the consumer's event span carry the request id, and only
    // the sampled checkout's were exported.
    let carrying = |id: &str| -> Vec<ReceivedSpan> {
        receiver
            .spans()
            .into_iter()
            .filter(|sp| sp.attributes.get("request_id").is_some_and(|r| r == id))
            .collect()
    };
    assert!(
        carrying(&request_id)
            .iter()
            .any(|sp| sp.service == "notifications"),
        "the consumer's span carries the request id"
    );
    assert_eq!(
        carrying(&quiet_id),
        Vec::new(),
        "a hop restarted the sampled-out trace"
    );
    assert_eq!(receiver.rejected(), 0);
    s.t.finish().await;
}
