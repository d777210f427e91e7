//! What each event becomes: the email (rendered from templates) and the live
//! push for the order's owner.

use anyhow::{Context, Result};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shop_types::{
    EventEnvelope, NotificationType, PushNotification,
    event::{ORDER_CREATED, ORDER_STATUS_UPDATED, OrderCreated, OrderStatusUpdated},
};
use uuid::Uuid;

/// An email as written: rendered, not yet sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
}

struct Line {
    product_name: String,
    quantity: i32,
    price: String,
    subtotal: String,
}

#[derive(Template)]
#[template(path = "order_confirmation.html")]
struct ConfirmationHtml<'a> {
    subject: &'a str,
    order_id: i64,
    items: &'a [Line],
    total: &'a str,
    correlation_id: &'a str,
}

#[derive(Template)]
#[template(path = "order_confirmation.txt")]
struct ConfirmationText<'a> {
    order_id: i64,
    items: &'a [Line],
    total: &'a str,
    correlation_id: &'a str,
}

#[derive(Template)]
#[template(path = "order_status.html")]
struct StatusHtml<'a> {
    subject: &'a str,
    order_id: i64,
    old_status: &'a str,
    new_status: &'a str,
    correlation_id: &'a str,
}

#[derive(Template)]
#[template(path = "order_status.txt")]
struct StatusText<'a> {
    order_id: i64,
    old_status: &'a str,
    new_status: &'a str,
    correlation_id: &'a str,
}

/// An event, understood.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub event_id: Uuid,
    /// The request id of the request that caused the event.
    pub correlation_id: String,
    pub event_type: String,
    pub kind: NotificationType,
    pub user_id: i64,
    pub order_id: i64,
    pub email: Email,
    pub push: PushNotification,
}

#[derive(Deserialize)]
struct Head {
    event_id: Uuid,
    event_type: String,
}

/// The event id alone, to recognise a repeat before doing any work.
pub fn event_id(body: &str) -> Result<(Uuid, String)> {
    let head: Head = serde_json::from_str(body).context("not an event envelope")?;
    Ok((head.event_id, head.event_type))
}

pub fn prepare(body: &str) -> Result<Prepared> {
    let (_, event_type) = event_id(body)?;
    match event_type.as_str() {
        ORDER_CREATED => confirmation(serde_json::from_str(body).context("order.created data")?),
        ORDER_STATUS_UPDATED => {
            status_update(serde_json::from_str(body).context("order.status.updated data")?)
        }
        other => anyhow::bail!("unknown event type `{other}`"),
    }
}

/// A push names the old system's notification type (`order_confirmation`,
/// `order_status_update`), which its browser client keys on, not the
/// event's `order.created`.
fn push(
    kind: NotificationType,
    subject: &str,
    message: String,
    order_id: i64,
    timestamp: DateTime<Utc>,
) -> PushNotification {
    PushNotification {
        event_type: kind.as_str().to_owned(),
        subject: subject.to_owned(),
        message,
        order_id: Some(order_id),
        timestamp,
    }
}

/// The subject the orders service wrote into the event. An event written
/// before events carried one (still queued, or a dead event requeued later)
/// gets the title the orders service gave such an event then.
fn subject(carried: &str, written_before: impl FnOnce() -> String) -> String {
    if carried.is_empty() {
        written_before()
    } else {
        carried.to_owned()
    }
}

fn confirmation(e: EventEnvelope<OrderCreated>) -> Result<Prepared> {
    let d = &e.data;
    let subject = subject(&d.subject, || format!("Order #{} confirmed", d.order_id));
    let items: Vec<Line> = d
        .items
        .iter()
        .map(|i| Line {
            product_name: i.product_name.clone(),
            quantity: i.quantity,
            price: i.price.to_string(),
            subtotal: i.subtotal().to_string(),
        })
        .collect();
    let total = d.total_amount.to_string();
    let html = ConfirmationHtml {
        subject: &subject,
        order_id: d.order_id,
        items: &items,
        total: &total,
        correlation_id: &e.correlation_id,
    }
    .render()?;
    let text = ConfirmationText {
        order_id: d.order_id,
        items: &items,
        total: &total,
        correlation_id: &e.correlation_id,
    }
    .render()?;
    let units: i32 = d.items.iter().map(|i| i.quantity).sum();
    Ok(Prepared {
        event_id: e.event_id,
        correlation_id: e.correlation_id.clone(),
        event_type: e.event_type.clone(),
        kind: NotificationType::OrderConfirmation,
        user_id: d.user_id,
        order_id: d.order_id,
        push: push(
            NotificationType::OrderConfirmation,
            &subject,
            format!(
                "Your order #{} of {units} item(s) for ${total} is confirmed.",
                d.order_id
            ),
            d.order_id,
            e.timestamp,
        ),
        email: Email {
            to: d.user_email.clone(),
            subject,
            html,
            text,
        },
    })
}

fn status_update(e: EventEnvelope<OrderStatusUpdated>) -> Result<Prepared> {
    let d = &e.data;
    let subject = subject(&d.subject, || {
        format!("Order #{} is now {}", d.order_id, d.new_status)
    });
    let (old, new) = (d.old_status.as_str(), d.new_status.as_str());
    let html = StatusHtml {
        subject: &subject,
        order_id: d.order_id,
        old_status: old,
        new_status: new,
        correlation_id: &e.correlation_id,
    }
    .render()?;
    let text = StatusText {
        order_id: d.order_id,
        old_status: old,
        new_status: new,
        correlation_id: &e.correlation_id,
    }
    .render()?;
    Ok(Prepared {
        event_id: e.event_id,
        correlation_id: e.correlation_id.clone(),
        event_type: e.event_type.clone(),
        kind: NotificationType::OrderStatusUpdate,
        user_id: d.user_id,
        order_id: d.order_id,
        push: push(
            NotificationType::OrderStatusUpdate,
            &subject,
            format!("Order #{} changed from {old} to {new}.", d.order_id),
            d.order_id,
            e.timestamp,
        ),
        email: Email {
            to: d.user_email.clone(),
            subject,
            html,
            text,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn created(name: &str) -> String {
        json!({
            "event_id": Uuid::new_v4(), "event_type": "order.created", "timestamp": Utc::now(), "correlation_id": "req-1",
            "data": {"order_id": 5, "user_id": 9, "user_email": "ann@example.com", "total_amount": "59.98", "status": "confirmed",
                     "items": [{"product_id": 1, "product_name": name, "quantity": 2, "price": "29.99"}],
                     "subject": "Order #5 confirmed"}
        })
        .to_string()
    }

    #[test]
    fn confirmation_lists_lines_and_total_for_the_owner() {
        let p = prepare(&created("Mouse")).unwrap();
        assert_eq!(p.user_id, 9);
        assert_eq!(p.email.to, "ann@example.com");
        assert_eq!(p.email.subject, "Order #5 confirmed");
        assert!(p.email.html.contains("Mouse") && p.email.html.contains("$59.98"));
        assert!(p.email.text.contains("Mouse x 2 @ $29.99 = $59.98"));
        assert_eq!(p.push.order_id, Some(5));
        assert_eq!(
            p.push.event_type, "order_confirmation",
            "the old system's type"
        );
    }

    #[test]
    fn a_status_change_is_pushed_as_order_status_update() {
        let body = json!({
            "event_id": Uuid::new_v4(), "event_type": "order.status.updated", "timestamp": Utc::now(), "correlation_id": "req-2",
            "data": {"order_id": 5, "user_id": 9, "user_email": "ann@example.com", "old_status": "confirmed",
                     "new_status": "shipped", "updated_by": "admin@shop.local"}
        })
        .to_string();
        let p = prepare(&body).unwrap();
        assert_eq!(p.push.event_type, "order_status_update");
        assert_eq!(
            p.event_type, "order.status.updated",
            "the event keeps its own name"
        );
    }

    #[test]
    fn an_event_written_before_subjects_were_carried_keeps_its_title() {
        let mut event: serde_json::Value = serde_json::from_str(&created("Lamp")).unwrap();
        event["data"].as_object_mut().unwrap().remove("subject");
        let p = prepare(&event.to_string()).unwrap();
        assert_eq!(p.email.subject, "Order #5 confirmed");
        let body = json!({
            "event_id": Uuid::new_v4(), "event_type": "order.status.updated", "timestamp": Utc::now(), "correlation_id": "req-3",
            "data": {"order_id": 5, "user_id": 9, "user_email": "ann@example.com", "old_status": "confirmed",
                     "new_status": "shipped", "updated_by": "admin@shop.local"}
        })
        .to_string();
        assert_eq!(
            prepare(&body).unwrap().email.subject,
            "Order #5 is now shipped"
        );
    }

    #[test]
    fn product_names_are_escaped_in_html() {
        let p = prepare(&created("<script>alert(1)</script>")).unwrap();
        assert!(!p.email.html.contains("<script>"));
        assert!(p.email.html.contains("&lt;script&gt;"));
    }

    #[test]
    fn unknown_events_are_refused() {
        let body = json!({"event_id": Uuid::new_v4(), "event_type": "order.exploded", "timestamp": Utc::now(), "correlation_id": "x", "data": {}}).to_string();
        assert!(prepare(&body).is_err());
    }
}
