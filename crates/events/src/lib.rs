//! Order events between the orders and notifications services. Production
//! and tests use SNS (topic `order-events`) fanned out to SQS
//! (`notification-queue`, dead-letter queue after 5 receives); development
//! without `AWS_ENDPOINT_URL` uses an in-process bus with the same interface.

mod aws;
mod memory;

pub use aws::{AwsSettings, MAX_RECEIVE_COUNT, SnsPublisher, SqsConsumer, VISIBILITY_TIMEOUT_SECS};

/// One outcome per item, all the same failure: a batch call that failed whole.
pub fn all_failed<T>(items: &[T], e: &anyhow::Error) -> Vec<Result<()>> {
    items
        .iter()
        .map(|_| Err(anyhow::anyhow!("{e:#}")))
        .collect()
}
pub use memory::InProcessBus;

use anyhow::Result;
use async_trait::async_trait;
use shop_config::Env;
use std::{collections::HashMap, sync::Arc};

/// One event ready to publish: the JSON envelope plus what SNS carries beside it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutgoingEvent {
    pub event_type: String,
    pub subject: String,
    /// The serialised `EventEnvelope`.
    pub body: String,
    /// The trace context of the publish (`traceparent`, `tracestate`,
    /// `baggage`), sent as message attributes; empty when traces are off.
    pub trace: TraceCarrier,
}

/// W3C trace context headers by name, as they travel beside a message.
pub type TraceCarrier = HashMap<String, String>;

/// The message attributes that carry [`TraceCarrier`] entries.
pub const TRACE_ATTRIBUTES: [&str; 3] = ["traceparent", "tracestate", "baggage"];

/// One received message. `receipt` acknowledges it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The serialised `EventEnvelope` (unwrapped from SNS's envelope if needed).
    pub body: String,
    pub event_type: Option<String>,
    pub receipt: String,
    pub receive_count: u32,
    /// The publisher's trace context, when it sent one.
    pub trace: TraceCarrier,
}

/// The most events or receipts one batch call carries (SNS's and SQS's limit).
pub const MAX_BATCH: usize = 10;

#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    async fn publish(&self, event: &OutgoingEvent) -> Result<()>;

    /// Publishes up to [`MAX_BATCH`] events, in one call where the broker
    /// has one (SNS `PublishBatch`); one outcome per event, in order.
    async fn publish_batch(&self, events: &[OutgoingEvent]) -> Vec<Result<()>> {
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            outcomes.push(self.publish(event).await);
        }
        outcomes
    }
}

#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// Waits (long poll) for up to `max` messages; may return none.
    async fn receive(&self, max: usize) -> Result<Vec<Delivery>>;
    /// The message was handled: it must not come back.
    async fn ack(&self, receipt: &str) -> Result<()>;

    /// Acknowledges up to [`MAX_BATCH`] handled messages, in one call where
    /// the broker has one (SQS `DeleteMessageBatch`); one outcome each.
    async fn ack_batch(&self, receipts: &[String]) -> Vec<Result<()>> {
        let mut outcomes = Vec::with_capacity(receipts.len());
        for receipt in receipts {
            outcomes.push(self.ack(receipt).await);
        }
        outcomes
    }
    /// How long a receive in flight may still take. Abandoning it sooner can
    /// strand messages the broker already handed to it (SQS hides them for
    /// the visibility timeout); an in-process queue loses nothing.
    fn poll_limit(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// Where events go: chosen by configuration.
#[derive(Debug, Clone)]
pub enum EventsSettings {
    /// In-process: only parts of the same process see the events.
    Embedded(InProcessBus),
    Aws(Box<AwsSettings>),
}

impl EventsSettings {
    /// `AWS_ENDPOINT_URL` (or `EVENTS_BACKEND=aws`) selects SNS/SQS.
    pub fn from_env(env: &Env, service: &str) -> Result<Self> {
        let backend = env.get("EVENTS_BACKEND").map(str::to_ascii_lowercase);
        let aws = match backend.as_deref() {
            Some("aws") => true,
            Some("embedded") => false,
            Some(other) => {
                anyhow::bail!("EVENTS_BACKEND must be `aws` or `embedded`, not `{other}`")
            }
            None => {
                env.get("AWS_ENDPOINT_URL").is_some()
                    || env
                        .get(&format!(
                            "{}_AWS_ENDPOINT_URL",
                            service.to_ascii_uppercase()
                        ))
                        .is_some()
            }
        };
        if aws {
            Ok(Self::Aws(Box::new(AwsSettings::from_env(env, service)?)))
        } else if env.is_production() {
            anyhow::bail!(
                "SHOP_ENV=production needs a real event bus: set AWS_ENDPOINT_URL or EVENTS_BACKEND=aws"
            )
        } else {
            Ok(Self::Embedded(InProcessBus::new()))
        }
    }

    pub async fn publisher(&self) -> Result<Arc<dyn Publisher>> {
        Ok(match self {
            Self::Embedded(bus) => Arc::new(bus.clone()),
            Self::Aws(s) => Arc::new(SnsPublisher::connect(s).await?),
        })
    }

    pub async fn consumer(&self) -> Result<Arc<dyn Consumer>> {
        Ok(match self {
            Self::Embedded(bus) => Arc::new(bus.clone()),
            Self::Aws(s) => Arc::new(SqsConsumer::connect(s).await?),
        })
    }
}
