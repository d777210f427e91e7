//! The events an order produces and their subjects (the SNS subject, and
//! the email's and the toast's title at the notifications service, which
//! reads it from the event).

use chrono::Utc;
use shop_platform::RequestId;
use shop_types::{
    EventEnvelope, Money, OrderStatus,
    event::{
        ORDER_CREATED, ORDER_STATUS_UPDATED, OrderCreated, OrderCreatedItem, OrderStatusUpdated,
    },
    internal::ReservedLine,
};

/// An event to write beside a change, with its subject.
#[derive(Debug, Clone)]
pub struct NewEvent<T> {
    pub subject: String,
    pub envelope: EventEnvelope<T>,
}

pub fn envelope<T>(event_type: &str, request_id: &RequestId, data: T) -> EventEnvelope<T> {
    EventEnvelope {
        event_id: uuid::Uuid::new_v4(),
        event_type: event_type.to_owned(),
        timestamp: Utc::now(),
        correlation_id: request_id.0.clone(),
        data,
    }
}

pub fn confirmed_subject(order_id: i64) -> String {
    format!("Order #{order_id} confirmed")
}

pub fn status_subject(order_id: i64, status: OrderStatus) -> String {
    format!("Order #{order_id} is now {status}")
}

/// Who placed an order, as its events name them.
#[derive(Debug, Clone, Copy)]
pub struct Buyer<'a> {
    pub user_id: i64,
    pub email: &'a str,
}

/// `order.created` for an order confirmed with these frozen lines.
pub fn order_created(
    order_id: i64,
    buyer: Buyer<'_>,
    lines: &[ReservedLine],
    total: Money,
    request_id: &RequestId,
) -> NewEvent<OrderCreated> {
    let subject = confirmed_subject(order_id);
    let data = OrderCreated {
        order_id,
        user_id: buyer.user_id,
        user_email: buyer.email.to_owned(),
        total_amount: total,
        status: OrderStatus::Confirmed,
        subject: subject.clone(),
        items: lines
            .iter()
            .map(|l| OrderCreatedItem {
                product_id: l.product_id,
                product_name: l.product_name.clone(),
                quantity: l.quantity,
                price: l.product_price,
            })
            .collect(),
    };
    NewEvent {
        subject,
        envelope: envelope(ORDER_CREATED, request_id, data),
    }
}

/// A status change of an order.
#[derive(Debug, Clone, Copy)]
pub struct StatusChange<'a> {
    pub order_id: i64,
    pub owner: Buyer<'a>,
    pub old: OrderStatus,
    pub new: OrderStatus,
    pub updated_by: &'a str,
}

/// `order.status_updated`.
pub fn status_updated(
    change: StatusChange<'_>,
    request_id: &RequestId,
) -> NewEvent<OrderStatusUpdated> {
    let subject = status_subject(change.order_id, change.new);
    NewEvent {
        subject: subject.clone(),
        envelope: envelope(
            ORDER_STATUS_UPDATED,
            request_id,
            OrderStatusUpdated {
                order_id: change.order_id,
                user_id: change.owner.user_id,
                user_email: change.owner.email.to_owned(),
                old_status: change.old,
                new_status: change.new,
                updated_by: change.updated_by.to_owned(),
                subject,
            },
        ),
    }
}
