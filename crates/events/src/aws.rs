//! SNS publishing and SQS consuming through the AWS SDK. With provisioning on
//! (`EVENTS_PROVISION`, the default outside production) the topic, queues,
//! dead-letter policy and subscription are created if missing, and converge
//! with what already exists.

use crate::{Consumer, Delivery, OutgoingEvent, Publisher, TRACE_ATTRIBUTES, TraceCarrier};
use anyhow::{Context, Result};
use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use serde::Deserialize;
use shop_config::Env;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub endpoint_url: Option<String>,
    pub region: String,
    /// Static credentials; `None` uses the SDK's default chain (roles, profiles).
    pub credentials: Option<(String, String)>,
    pub topic_name: String,
    pub topic_arn: Option<String>,
    pub queue_name: String,
    pub dead_letter_queue_name: String,
    pub queue_url: Option<String>,
    /// Create the topic, queues and subscription when missing.
    pub provision: bool,
    /// SQS long-poll wait, seconds (≤ 20).
    pub wait_seconds: i32,
}

impl AwsSettings {
    /// Reads `{SERVICE}_AWS_ENDPOINT_URL` before `AWS_ENDPOINT_URL`, so one
    /// process can point two services at different endpoints.
    pub fn from_env(env: &Env, service: &str) -> Result<Self> {
        let endpoint = env
            .get(&format!(
                "{}_AWS_ENDPOINT_URL",
                service.to_ascii_uppercase()
            ))
            .or_else(|| env.get("AWS_ENDPOINT_URL"))
            .map(str::to_owned);
        let credentials = match (
            env.get("AWS_ACCESS_KEY_ID"),
            env.get("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Some(id), Some(secret)) => Some((id.to_owned(), secret.to_owned())),
            // The stand-ins accept anything; production uses the SDK's chain.
            _ if !env.is_production() => Some(("test".into(), "test".into())),
            _ => None,
        };
        Ok(Self {
            endpoint_url: endpoint,
            region: env.get("AWS_REGION").unwrap_or("us-east-1").to_owned(),
            credentials,
            topic_name: env
                .get("ORDER_EVENTS_TOPIC")
                .unwrap_or("order-events")
                .to_owned(),
            topic_arn: env.get("ORDER_EVENTS_TOPIC_ARN").map(str::to_owned),
            queue_name: env
                .get("NOTIFICATION_QUEUE")
                .unwrap_or("notification-queue")
                .to_owned(),
            dead_letter_queue_name: env
                .get("NOTIFICATION_DLQ")
                .unwrap_or("notification-dlq")
                .to_owned(),
            queue_url: env.get("NOTIFICATION_QUEUE_URL").map(str::to_owned),
            provision: env.parse_or("EVENTS_PROVISION", !env.is_production())?,
            wait_seconds: env.parse_or("SQS_WAIT_SECONDS", 20)?,
        })
    }

    async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()));
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some((id, secret)) = &self.credentials {
            loader = loader.credentials_provider(aws_sdk_sns::config::Credentials::new(
                id,
                secret,
                None,
                None,
                "shop-config",
            ));
        }
        loader.load().await
    }

    async fn topic_arn(&self, sns: &aws_sdk_sns::Client) -> Result<String> {
        if let Some(arn) = &self.topic_arn {
            return Ok(arn.clone());
        }
        let out = sns
            .create_topic()
            .name(&self.topic_name)
            .send()
            .await
            .with_context(|| format!("creating or finding SNS topic `{}`", self.topic_name))?;
        out.topic_arn.context("SNS returned no topic ARN")
    }
}

pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    settings: AwsSettings,
    /// Resolved on first use, so the service starts while SNS is down.
    topic_arn: tokio::sync::OnceCell<String>,
}

impl std::fmt::Debug for SnsPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsPublisher")
            .field("topic", &self.settings.topic_name)
            .finish()
    }
}

impl SnsPublisher {
    /// Never fails because the broker is down: the outbox relay retries.
    pub async fn connect(settings: &AwsSettings) -> Result<Self> {
        let client = aws_sdk_sns::Client::new(&settings.sdk_config().await);
        let publisher = Self {
            client,
            settings: settings.clone(),
            topic_arn: tokio::sync::OnceCell::new(),
        };
        if let Err(e) = publisher.topic().await {
            tracing::warn!(
                error = format!("{e:#}"),
                "SNS unreachable at start-up; publishing will retry"
            );
        }
        Ok(publisher)
    }

    async fn topic(&self) -> Result<&String> {
        self.topic_arn
            .get_or_try_init(|| self.settings.topic_arn(&self.client))
            .await
    }
}

impl SnsPublisher {
    /// One `PublishBatch` call; each entry's outcome by its index.
    async fn try_publish_batch(&self, events: &[OutgoingEvent]) -> Result<Vec<Result<()>>> {
        let mut entries = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let mut entry = PublishBatchRequestEntry::builder()
                .id(i.to_string())
                .subject(&event.subject)
                .message(&event.body)
                .message_attributes(
                    "event_type",
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(&event.event_type)
                        .build()?,
                );
            for name in TRACE_ATTRIBUTES {
                if let Some(value) = event.trace.get(name).filter(|v| !v.is_empty()) {
                    entry = entry.message_attributes(
                        name,
                        MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(value)
                            .build()?,
                    );
                }
            }
            entries.push(entry.build()?);
        }
        let out = self
            .client
            .publish_batch()
            .topic_arn(self.topic().await?)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .context("publishing a batch to SNS")?;
        let mut outcomes: Vec<Result<()>> = events
            .iter()
            .map(|_| Err(anyhow::anyhow!("SNS said nothing of this event")))
            .collect();
        for ok in out.successful() {
            if let Some(slot) = ok
                .id()
                .and_then(|id| id.parse::<usize>().ok())
                .and_then(|i| outcomes.get_mut(i))
            {
                *slot = Ok(());
            }
        }
        for failed in out.failed() {
            refused(
                &mut outcomes,
                failed.id(),
                "SNS refused the event",
                failed.code(),
                failed.message(),
            );
        }
        Ok(outcomes)
    }
}

/// Records a batch entry's refusal at its index (batch ids are indexes).
fn refused(outcomes: &mut [Result<()>], id: &str, what: &str, code: &str, message: Option<&str>) {
    if let Some(slot) = id.parse::<usize>().ok().and_then(|i| outcomes.get_mut(i)) {
        *slot = Err(anyhow::anyhow!(
            "{what}: {code} {}",
            message.unwrap_or_default()
        ));
    }
}

#[async_trait]
impl Publisher for SnsPublisher {
    /// A call refused whole (a batch over SNS's 256 KiB, say) is tried
    /// again one event at a time, so each event fails or succeeds alone.
    async fn publish_batch(&self, events: &[OutgoingEvent]) -> Vec<Result<()>> {
        match self.try_publish_batch(events).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    events = events.len(),
                    "a batch publish failed; publishing one at a time"
                );
                let mut outcomes = Vec::with_capacity(events.len());
                for event in events {
                    outcomes.push(self.publish(event).await);
                }
                outcomes
            }
        }
    }

    async fn publish(&self, event: &OutgoingEvent) -> Result<()> {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&event.event_type)
            .build()?;
        let mut publish = self
            .client
            .publish()
            .topic_arn(self.topic().await?)
            .subject(&event.subject)
            .message(&event.body)
            .message_attributes("event_type", attr);
        for name in TRACE_ATTRIBUTES {
            // SNS refuses an attribute with an empty value.
            if let Some(value) = event.trace.get(name).filter(|v| !v.is_empty()) {
                let attr = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()?;
                publish = publish.message_attributes(name, attr);
            }
        }
        publish.send().await.context("publishing to SNS")?;
        Ok(())
    }
}

pub struct SqsConsumer {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    wait_seconds: i32,
}

impl std::fmt::Debug for SqsConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsConsumer")
            .field("queue_url", &self.queue_url)
            .finish()
    }
}

impl SqsConsumer {
    pub async fn connect(settings: &AwsSettings) -> Result<Self> {
        let config = settings.sdk_config().await;
        let client = aws_sdk_sqs::Client::new(&config);
        let queue_url = if settings.provision {
            provision(settings, &client, &aws_sdk_sns::Client::new(&config)).await?
        } else if let Some(url) = &settings.queue_url {
            url.clone()
        } else {
            client
                .get_queue_url()
                .queue_name(&settings.queue_name)
                .send()
                .await
                .with_context(|| format!("finding SQS queue `{}`", settings.queue_name))?
                .queue_url
                .context("SQS returned no queue URL")?
        };
        Ok(Self {
            client,
            queue_url,
            wait_seconds: settings.wait_seconds.clamp(0, 20),
        })
    }
}

impl SqsConsumer {
    /// Messages on the queue, waiting or being handled (SQS's approximate
    /// counts): the consumer's lag.
    pub async fn backlog(&self) -> Result<u64> {
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .context("reading the queue's attributes")?
            .attributes
            .unwrap_or_default();
        let count = |name| {
            attrs
                .get(&name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }
}

async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    let attrs = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?;
    attrs
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("SQS returned no queue ARN")
}

/// How long a received message stays hidden from other consumers: long
/// enough to render and send an email. The compose init script uses the same.
pub const VISIBILITY_TIMEOUT_SECS: u32 = 60;
/// Receives after which a message is parked in the dead-letter queue.
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// Dead letters are kept for the SQS maximum, 14 days, to be inspected.
const DEAD_LETTER_RETENTION_SECS: u32 = 14 * 24 * 3600;

/// Topic, dead-letter queue, queue with redrive policy, and the subscription.
/// Returns the queue URL.
///
/// Converges with whatever already exists (another replica, the compose init
/// script, an earlier run): queues are created without attributes — SQS
/// refuses `CreateQueue` for an existing queue whose attributes differ — and
/// the attributes are set afterwards; the subscription is made only when the
/// topic has none for this queue.
async fn provision(
    settings: &AwsSettings,
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
) -> Result<String> {
    let topic_arn = settings.topic_arn(sns).await?;
    let dlq_url = create_queue(sqs, &settings.dead_letter_queue_name).await?;
    let dlq_arn = queue_arn(sqs, &dlq_url).await?;
    sqs.set_queue_attributes()
        .queue_url(&dlq_url)
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            DEAD_LETTER_RETENTION_SECS.to_string(),
        )
        .send()
        .await
        .context("setting the dead-letter queue's retention")?;
    let queue_url = create_queue(sqs, &settings.queue_name).await?;
    let arn = queue_arn(sqs, &queue_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": MAX_RECEIVE_COUNT.to_string(),
    });
    // Real SQS accepts the topic's deliveries only with this policy.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
        }],
    });
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY_TIMEOUT_SECS.to_string(),
        )
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "20")
        .send()
        .await
        .with_context(|| {
            format!(
                "setting the attributes of SQS queue `{}`",
                settings.queue_name
            )
        })?;
    if !is_subscribed(sns, &topic_arn, &arn).await? {
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&arn)
            .send()
            .await
            .context("subscribing the queue to the topic")?;
    }
    Ok(queue_url)
}

/// Creates `name` with no attributes, or returns the existing queue's URL.
async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String> {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .with_context(|| format!("creating or finding SQS queue `{name}`"))?
        .queue_url
        .with_context(|| format!("SQS returned no URL for queue `{name}`"))
}

/// Whether `topic_arn` already delivers to the queue `queue_arn`.
async fn is_subscribed(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    queue_arn: &str,
) -> Result<bool> {
    let mut pages = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("listing the topic's subscriptions")?;
        if page
            .subscriptions()
            .iter()
            .any(|s| s.protocol() == Some("sqs") && s.endpoint() == Some(queue_arn))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// SNS's JSON wrapper around a message delivered to SQS without raw delivery.
#[derive(Deserialize)]
struct SnsWrapper {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "MessageAttributes", default)]
    attributes: HashMap<String, SnsAttribute>,
}

#[derive(Deserialize)]
struct SnsAttribute {
    #[serde(rename = "Value")]
    value: String,
}

/// The envelope, event type and trace context of an SQS body, wrapped by
/// SNS (its attributes inside) or raw (its attributes beside it, `sqs`).
fn unwrap_body(
    body: &str,
    sqs: &HashMap<String, String>,
) -> (String, Option<String>, TraceCarrier) {
    let pick = |attrs: &HashMap<String, String>| -> (Option<String>, TraceCarrier) {
        let trace = TRACE_ATTRIBUTES
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), attrs.get(*name)?.clone())))
            .collect();
        (attrs.get("event_type").cloned(), trace)
    };
    match serde_json::from_str::<SnsWrapper>(body) {
        Ok(w) if w.kind == "Notification" => {
            let inside: HashMap<String, String> = w
                .attributes
                .into_iter()
                .map(|(k, a)| (k, a.value))
                .collect();
            let (event_type, trace) = pick(&inside);
            let (beside_type, beside_trace) = pick(sqs);
            let trace = if trace.is_empty() {
                beside_trace
            } else {
                trace
            };
            (w.message, event_type.or(beside_type), trace)
        }
        _ => {
            let (event_type, trace) = pick(sqs);
            (body.to_owned(), event_type, trace)
        }
    }
}

#[async_trait]
impl Consumer for SqsConsumer {
    async fn receive(&self, max: usize) -> Result<Vec<Delivery>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(self.wait_seconds)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .context("receiving from SQS")?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receipt = m.receipt_handle?;
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                let beside: HashMap<String, String> = m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, v.string_value?)))
                    .collect();
                let (body, event_type, trace) = unwrap_body(&m.body.unwrap_or_default(), &beside);
                Some(Delivery {
                    body,
                    event_type,
                    receipt,
                    receive_count,
                    trace,
                })
            })
            .collect())
    }

    fn poll_limit(&self) -> std::time::Duration {
        // The long poll, and a margin for the answer to travel.
        std::time::Duration::from_secs(u64::try_from(self.wait_seconds).unwrap_or(20) + 2)
    }

    async fn ack_batch(&self, receipts: &[String]) -> Vec<Result<()>> {
        let delete = async {
            let mut entries = Vec::with_capacity(receipts.len());
            for (i, receipt) in receipts.iter().enumerate() {
                entries.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()?,
                );
            }
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .context("deleting a batch of SQS messages")?;
            let mut outcomes: Vec<Result<()>> = receipts.iter().map(|_| Ok(())).collect();
            for failed in out.failed() {
                refused(
                    &mut outcomes,
                    failed.id(),
                    "SQS kept the message",
                    failed.code(),
                    failed.message(),
                );
            }
            Ok::<_, anyhow::Error>(outcomes)
        };
        match delete.await {
            Ok(outcomes) => outcomes,
            Err(e) => crate::all_failed(receipts, &e),
        }
    }

    async fn ack(&self, receipt: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .context("deleting an SQS message")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sns_wrapped_body_is_unwrapped_with_its_event_type() {
        let wrapped = serde_json::json!({
            "Type": "Notification",
            "Message": "{\"event_id\":\"x\"}",
            "Subject": "Order 1 confirmed",
            "MessageAttributes": {
                "event_type": {"Type": "String", "Value": "order.created"},
                "traceparent": {"Type": "String", "Value": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
            }
        })
        .to_string();
        let (body, t, trace) = unwrap_body(&wrapped, &HashMap::new());
        assert_eq!(body, "{\"event_id\":\"x\"}");
        assert_eq!(t.as_deref(), Some("order.created"));
        assert_eq!(
            trace.get("traceparent").map(String::as_str),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
    }

    /// The compose deployment provisions with LocalStack's init script, the
    /// other deployments with `provision`: both make the same queue.
    #[test]
    fn the_compose_init_script_provisions_the_same_queue() {
        let script = include_str!("../../../localstack/init/ready.d/init-aws.sh");
        let value = |name: &str| {
            script
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("init-aws.sh sets no {name}"))
                .to_owned()
        };
        assert_eq!(
            value("visibility_timeout"),
            VISIBILITY_TIMEOUT_SECS.to_string()
        );
        assert_eq!(value("max_receive_count"), MAX_RECEIVE_COUNT.to_string());
        assert!(script.contains(&format!(
            "MessageRetentionPeriod={DEAD_LETTER_RETENTION_SECS}"
        )));
    }

    #[test]
    fn raw_body_is_kept() {
        let beside = HashMap::from([
            ("event_type".to_owned(), "order.created".to_owned()),
            ("tracestate".to_owned(), "shop=1".to_owned()),
        ]);
        let (body, t, trace) = unwrap_body("{\"event_id\":\"x\"}", &beside);
        assert_eq!(body, "{\"event_id\":\"x\"}");
        assert_eq!(t.as_deref(), Some("order.created"));
        assert_eq!(trace.len(), 1);
    }
}
