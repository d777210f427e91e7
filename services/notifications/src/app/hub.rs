//! Open WebSocket connections by user: a push reaches every socket of the
//! order's owner and nobody else.

use shop_types::ServerMessage;
use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};
use tokio::sync::mpsc;

#[derive(Debug, Default)]
pub struct Hub {
    conns: Mutex<HashMap<i64, HashMap<u64, mpsc::Sender<ServerMessage>>>>,
    next: AtomicU64,
}

/// Removes its connection from the hub when dropped.
#[derive(Debug)]
pub struct Registration<'a> {
    hub: &'a Hub,
    user_id: i64,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        metrics::gauge!("notifications_open_sockets").decrement(1.0);
        if let Ok(mut conns) = self.hub.conns.lock()
            && let Some(user) = conns.get_mut(&self.user_id)
        {
            user.remove(&self.id);
            if user.is_empty() {
                conns.remove(&self.user_id);
            }
        }
    }
}

impl Hub {
    /// Adds a socket of `user_id`, unless the user already has `cap` open.
    pub fn register(
        &self,
        user_id: i64,
        cap: usize,
    ) -> Option<(Registration<'_>, mpsc::Receiver<ServerMessage>)> {
        let (tx, rx) = mpsc::channel(64);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut conns = self.conns.lock().ok()?;
        let socks = conns.entry(user_id).or_default();
        if socks.len() >= cap {
            return None;
        }
        socks.insert(id, tx);
        metrics::gauge!("notifications_open_sockets").increment(1.0);
        Some((
            Registration {
                hub: self,
                user_id,
                id,
            },
            rx,
        ))
    }

    /// Sends to every socket of `user_id`; returns how many took it. A socket
    /// too slow to keep up loses the message rather than stalling the consumer.
    pub fn push(&self, user_id: i64, message: &ServerMessage) -> usize {
        let Ok(conns) = self.conns.lock() else {
            return 0;
        };
        conns
            .get(&user_id)
            .map(|socks| {
                socks
                    .values()
                    .filter(|tx| tx.try_send(message.clone()).is_ok())
                    .count()
            })
            .unwrap_or(0)
    }

    pub fn connections(&self, user_id: i64) -> usize {
        self.conns
            .lock()
            .map(|c| c.get(&user_id).map_or(0, HashMap::len))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_reaches_every_socket_of_its_user_only() {
        let hub = Hub::default();
        let (_a1, mut rx1) = hub.register(1, 10).unwrap();
        let (_a2, mut rx2) = hub.register(1, 10).unwrap();
        let (_b, mut other) = hub.register(2, 10).unwrap();
        assert_eq!(hub.push(1, &ServerMessage::Pong), 2);
        assert!(rx1.try_recv().is_ok() && rx2.try_recv().is_ok());
        assert!(other.try_recv().is_err());
    }

    #[test]
    fn a_closed_socket_is_forgotten() {
        let hub = Hub::default();
        {
            let _reg = hub.register(1, 10).unwrap();
            assert_eq!(hub.connections(1), 1);
        }
        assert_eq!(hub.connections(1), 0);
    }

    #[test]
    fn a_user_at_the_cap_gets_no_more_sockets_until_one_closes() {
        let hub = Hub::default();
        let first = hub.register(1, 2).unwrap();
        let _second = hub.register(1, 2).unwrap();
        assert!(hub.register(1, 2).is_none());
        assert!(hub.register(2, 2).is_some(), "another user is not affected");
        drop(first);
        assert!(hub.register(1, 2).is_some());
    }
}
