//! What arrived: the newest messages, in memory, newest first.

use chrono::{DateTime, Utc};
use std::{
    collections::VecDeque,
    sync::{Arc, RwLock},
};

/// How many messages are kept; older ones are dropped as new ones arrive.
pub const CAPACITY: usize = 1000;
/// And how many bytes of them, all told.
pub const CAPACITY_BYTES: usize = 64 * 1024 * 1024;

/// One message as the SMTP session delivered it.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// The client's HELO/EHLO name.
    pub helo: String,
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message as sent after `DATA`, headers and body.
    pub raw: Vec<u8>,
}

/// A stored message with what the page shows read out of it.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub created: DateTime<Utc>,
    pub received: Received,
    pub subject: String,
    /// The `From` header as written.
    pub from_header: String,
    /// The first `text/html` part, decoded; `None` for a text-only message.
    pub html: Option<String>,
    pub text: Option<String>,
    /// Header lines in order, values as sent (not decoded), as MailHog lists them.
    pub headers: Vec<(String, String)>,
}

impl Message {
    pub fn parse(received: Received) -> Self {
        let parsed = mail_parser::MessageParser::default().parse(&received.raw);
        let (subject, from_header, html, text, headers) = match &parsed {
            Some(m) => (
                m.subject().unwrap_or("").to_owned(),
                m.from()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or("")
                    .to_owned(),
                // body_html(0) would render a text-only message as HTML.
                m.html_bodies()
                    .any(|p| p.is_text_html())
                    .then(|| m.body_html(0).map(|b| b.into_owned()))
                    .flatten(),
                m.body_text(0).map(|b| b.into_owned()),
                m.headers_raw()
                    .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
                    .collect(),
            ),
            None => (String::new(), String::new(), None, None, Vec::new()),
        };
        Self {
            id: format!("{}@shop.local", uuid::Uuid::new_v4().simple()),
            created: Utc::now(),
            received,
            subject,
            from_header,
            html,
            text,
            headers,
        }
    }

    /// Everything after the blank line that ends the headers, as sent.
    pub fn body(&self) -> String {
        let raw = String::from_utf8_lossy(&self.received.raw);
        raw.split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }

    /// What keeping it costs, roughly.
    fn size(&self) -> usize {
        self.received.raw.len()
            + self.html.as_ref().map_or(0, String::len)
            + self.text.as_ref().map_or(0, String::len)
    }
}

/// The messages, shared by the SMTP listener and the page.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    messages: Arc<RwLock<VecDeque<Arc<Message>>>>,
}

impl Inbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a delivered message; returns its id.
    pub fn deliver(&self, received: Received) -> String {
        let message = Arc::new(Message::parse(received));
        let id = message.id.clone();
        let mut messages = self.messages.write().unwrap_or_else(|e| e.into_inner());
        messages.push_front(message);
        messages.truncate(CAPACITY);
        let mut total: usize = messages.iter().map(|m| m.size()).sum();
        while total > CAPACITY_BYTES && messages.len() > 1 {
            total -= messages.pop_back().map_or(0, |m| m.size());
        }
        id
    }

    /// Newest first.
    pub fn list(&self) -> Vec<Arc<Message>> {
        let messages = self.messages.read().unwrap_or_else(|e| e.into_inner());
        messages.iter().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Message>> {
        let messages = self.messages.read().unwrap_or_else(|e| e.into_inner());
        messages.iter().find(|m| m.id == id).cloned()
    }

    pub fn clear(&self) {
        self.messages
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn remove(&self, id: &str) -> bool {
        let mut messages = self.messages.write().unwrap_or_else(|e| e.into_inner());
        let before = messages.len();
        messages.retain(|m| m.id != id);
        messages.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(subject: &str) -> Received {
        Received {
            helo: "client".into(),
            from: "orders@shop.local".into(),
            to: vec!["ann@example.com".into()],
            raw: format!(
                "From: Shop <orders@shop.local>\r\nTo: ann@example.com\r\nSubject: {subject}\r\n\
                 MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Order <b>#7</b></p>\r\n"
            )
            .into_bytes(),
        }
    }

    #[test]
    fn a_message_is_read_and_listed_newest_first() {
        let inbox = Inbox::new();
        inbox.deliver(mail("first"));
        let id = inbox.deliver(mail("Order #7 confirmed"));
        let list = inbox.list();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].id, id);
        assert_eq!(list[0].subject, "Order #7 confirmed");
        assert_eq!(list[0].from_header, "orders@shop.local");
        assert!(
            list[0]
                .html
                .as_deref()
                .is_some_and(|h| h.contains("<b>#7</b>"))
        );
        assert!(list[0].body().contains("<p>Order"));
        assert!(inbox.remove(&id));
        assert!(inbox.get(&id).is_none());
    }

    #[test]
    fn the_oldest_are_dropped_past_the_capacity() {
        let inbox = Inbox::new();
        for i in 0..CAPACITY + 5 {
            inbox.deliver(mail(&format!("m{i}")));
        }
        let list = inbox.list();
        assert_eq!(list.len(), CAPACITY);
        assert_eq!(list[0].subject, format!("m{}", CAPACITY + 4));
    }
}
