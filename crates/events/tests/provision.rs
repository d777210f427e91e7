//! Provisioning against moto (`TEST_AWS_ENDPOINT_URL`, started by `cargo
//! xtask test`): it converges with a queue someone else already made with
//! other attributes, as the compose init script does, instead of failing.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_sqs::types::QueueAttributeName;
use shop_config::Env;
use shop_events::{
    AwsSettings, Consumer, MAX_RECEIVE_COUNT, OutgoingEvent, Publisher, SnsPublisher, SqsConsumer,
    VISIBILITY_TIMEOUT_SECS,
};
use std::time::{Duration, Instant};

fn moto_url() -> String {
    std::env::var("TEST_AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto_url())
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await
}

#[tokio::test]
async fn provisioning_adopts_an_existing_queue_and_subscribes_it_once() {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let queue = format!("notification-queue-{tag}");
    let config = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    // Made first with other attributes: CreateQueue with the service's own
    // attributes would be refused with QueueNameExists.
    sqs.create_queue()
        .queue_name(&queue)
        .attributes(QueueAttributeName::VisibilityTimeout, "17")
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "20")
        .send()
        .await
        .expect("moto answers");
    let env = Env::from_pairs([
        ("AWS_ENDPOINT_URL", moto_url()),
        ("ORDER_EVENTS_TOPIC", format!("order-events-{tag}")),
        ("NOTIFICATION_QUEUE", queue.clone()),
        ("NOTIFICATION_DLQ", format!("notification-dlq-{tag}")),
        ("EVENTS_PROVISION", "true".into()),
        ("SQS_WAIT_SECONDS", "1".into()),
    ])
    .expect("valid settings");
    let settings = AwsSettings::from_env(&env, "test").expect("settings");

    // Twice: a restarted service, or a second replica.
    SqsConsumer::connect(&settings)
        .await
        .expect("provisioning converges with the existing queue");
    let consumer = SqsConsumer::connect(&settings)
        .await
        .expect("provisioning again changes nothing");

    let url = sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes")
        .attributes
        .expect("some attributes");
    assert_eq!(
        attributes[&QueueAttributeName::VisibilityTimeout],
        VISIBILITY_TIMEOUT_SECS.to_string()
    );
    let redrive = &attributes[&QueueAttributeName::RedrivePolicy];
    assert!(
        redrive.contains(&format!("notification-dlq-{tag}"))
            && redrive.contains(&MAX_RECEIVE_COUNT.to_string()),
        "dead letters go to the DLQ: {redrive}"
    );

    let sns = aws_sdk_sns::Client::new(&config);
    let topic = sns
        .create_topic()
        .name(format!("order-events-{tag}"))
        .send()
        .await
        .expect("topic")
        .topic_arn
        .expect("arn");
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .expect("subscriptions");
    assert_eq!(
        subscriptions.subscriptions().len(),
        1,
        "one subscription however often the service starts"
    );

    // And the wiring works: a published event arrives once.
    let publisher = SnsPublisher::connect(&settings).await.expect("publisher");
    publisher
        .publish(&OutgoingEvent {
            event_type: "order.created".into(),
            subject: "Order 1 confirmed".into(),
            body: format!(r#"{{"event_id":"{tag}"}}"#),
            trace: [(
                "traceparent".to_owned(),
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
            )]
            .into(),
        })
        .await
        .expect("published");
    let started = Instant::now();
    let mut received = Vec::new();
    while received.is_empty() && started.elapsed() < Duration::from_secs(20) {
        received = consumer.receive(10).await.expect("receive");
    }
    assert_eq!(received.len(), 1, "the event arrives once");
    assert!(received[0].body.contains(&tag));
    // The trace context crosses SNS and SQS beside the message.
    assert_eq!(
        received[0].trace.get("traceparent").map(String::as_str),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
}

/// Ten events in one `PublishBatch` call arrive each once, with their own
/// event type and trace context; one `DeleteMessageBatch` call removes
/// them all, so none comes back.
#[tokio::test]
async fn a_published_batch_arrives_whole_and_a_deleted_batch_is_gone() {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let env = Env::from_pairs([
        ("AWS_ENDPOINT_URL", moto_url()),
        ("ORDER_EVENTS_TOPIC", format!("order-events-{tag}")),
        ("NOTIFICATION_QUEUE", format!("notification-queue-{tag}")),
        ("NOTIFICATION_DLQ", format!("notification-dlq-{tag}")),
        ("EVENTS_PROVISION", "true".into()),
        ("SQS_WAIT_SECONDS", "1".into()),
    ])
    .expect("valid settings");
    let settings = AwsSettings::from_env(&env, "test").expect("settings");
    let consumer = SqsConsumer::connect(&settings).await.expect("consumer");
    let publisher = SnsPublisher::connect(&settings).await.expect("publisher");
    let events: Vec<OutgoingEvent> = (0..shop_events::MAX_BATCH)
        .map(|i| OutgoingEvent {
            event_type: format!("order.n{i}"),
            subject: format!("Order {i}"),
            body: format!(r#"{{"event_id":"{tag}-{i}"}}"#),
            trace: [(
                "traceparent".to_owned(),
                format!("00-4bf92f3577b34da6a3ce929d0e0e47{i:02}-00f067aa0ba902b7-01"),
            )]
            .into(),
        })
        .collect();

    let outcomes = publisher.publish_batch(&events).await;

    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let started = Instant::now();
    let mut received = Vec::new();
    while received.len() < events.len() && started.elapsed() < Duration::from_secs(20) {
        received.extend(consumer.receive(10).await.expect("receive"));
    }
    let mut seen: Vec<(String, Option<String>, Option<String>)> = received
        .iter()
        .map(|d| {
            (
                d.body.clone(),
                d.event_type.clone(),
                d.trace.get("traceparent").cloned(),
            )
        })
        .collect();
    seen.sort();
    let mut want: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.body.clone(),
                Some(e.event_type.clone()),
                e.trace.get("traceparent").cloned(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(seen, want, "each event once, with its own attributes");

    let receipts: Vec<String> = received.iter().map(|d| d.receipt.clone()).collect();
    let deleted = consumer.ack_batch(&receipts).await;
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
    assert_eq!(
        consumer.backlog().await.expect("backlog"),
        0,
        "nothing left to come back"
    );
}
