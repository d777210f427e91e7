//! The in-process bus of `cargo xtask up`: a queue in memory with the same
//! receive/ack shape as SQS. Unacknowledged messages are not redelivered;
//! nothing survives a restart — which is why production uses SNS/SQS.

use crate::{Consumer, Delivery, OutgoingEvent, Publisher};
use anyhow::Result;
use async_trait::async_trait;
use std::{collections::VecDeque, sync::Arc, time::Duration};
use tokio::sync::{Mutex, Notify};

#[derive(Debug, Clone, Default)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    queue: Mutex<VecDeque<OutgoingEvent>>,
    arrived: Notify,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages waiting to be received.
    pub async fn pending(&self) -> usize {
        self.inner.queue.lock().await.len()
    }
}

#[async_trait]
impl Publisher for InProcessBus {
    async fn publish(&self, event: &OutgoingEvent) -> Result<()> {
        self.inner.queue.lock().await.push_back(event.clone());
        self.inner.arrived.notify_one();
        Ok(())
    }
}

#[async_trait]
impl Consumer for InProcessBus {
    async fn receive(&self, max: usize) -> Result<Vec<Delivery>> {
        loop {
            let notified = self.inner.arrived.notified();
            {
                let mut queue = self.inner.queue.lock().await;
                if !queue.is_empty() {
                    let n = max.min(queue.len());
                    return Ok(queue
                        .drain(..n)
                        .map(|e| Delivery {
                            body: e.body,
                            event_type: Some(e.event_type),
                            receipt: uuid::Uuid::new_v4().to_string(),
                            receive_count: 1,
                            trace: e.trace,
                        })
                        .collect());
                }
            }
            // Like a long poll: return empty-handed now and then.
            if tokio::time::timeout(Duration::from_secs(20), notified)
                .await
                .is_err()
            {
                return Ok(Vec::new());
            }
        }
    }

    async fn ack(&self, _receipt: &str) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn published_events_are_received_in_order() {
        let bus = InProcessBus::new();
        for i in 0..3 {
            bus.publish(&OutgoingEvent {
                event_type: "order.created".into(),
                subject: format!("s{i}"),
                body: format!("{{\"n\":{i}}}"),
                ..Default::default()
            })
            .await
            .unwrap();
        }
        let got = bus.receive(10).await.unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].body, "{\"n\":0}");
        assert_eq!(bus.pending().await, 0);
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_on_publish() {
        let bus = InProcessBus::new();
        let rx = bus.clone();
        let waiter = tokio::spawn(async move { rx.receive(1).await.unwrap() });
        tokio::time::sleep(Duration::from_millis(50)).await;
        bus.publish(&OutgoingEvent {
            event_type: "t".into(),
            subject: "s".into(),
            body: "{}".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.len(), 1);
    }
}
