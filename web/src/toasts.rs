//! Toasts: the pushed notifications on screen, and the state of the live
//! connection that delivers them.

use std::time::Duration;

use leptos::prelude::*;
use shop_types::PushNotification;

/// Long enough to read twice; each toast can also be dismissed.
const SHOWN_FOR: Duration = Duration::from_secs(12);
/// More would cover the page on a phone.
const AT_MOST: usize = 4;

#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub title: String,
    pub body: String,
    pub order_id: Option<i64>,
}

/// The live socket's state, shown as `data-live` on the toast region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    Off,
    Connecting,
    Connected,
}

impl Live {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
        }
    }
}

#[derive(Clone, Copy)]
pub struct Toasts {
    items: RwSignal<Vec<Toast>>,
    next_id: StoredValue<u64>,
    live: RwSignal<Live>,
    /// Counts pushes, so pages showing orders can refresh when one arrives.
    received: RwSignal<u64>,
}

impl Toasts {
    pub fn provide() -> Self {
        let toasts = Self {
            items: RwSignal::new(Vec::new()),
            next_id: StoredValue::new(0),
            live: RwSignal::new(Live::Off),
            received: RwSignal::new(0),
        };
        provide_context(toasts);
        toasts
    }

    pub fn items(&self) -> Vec<Toast> {
        self.items.get()
    }

    pub fn live(&self) -> Live {
        self.live.get()
    }

    pub fn set_live(&self, state: Live) {
        if self.live.get_untracked() != state {
            self.live.set(state);
        }
    }

    pub fn received(&self) -> u64 {
        self.received.get()
    }

    pub fn notify(&self, push: PushNotification) {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        self.items.update(|items| {
            items.push(Toast {
                id,
                title: push.subject,
                body: push.message,
                order_id: push.order_id,
            });
            let extra = items.len().saturating_sub(AT_MOST);
            items.drain(..extra);
        });
        self.received.update(|n| *n += 1);
        let toasts = *self;
        set_timeout(move || toasts.dismiss(id), SHOWN_FOR);
    }

    pub fn dismiss(&self, id: u64) {
        // The app may have been torn down before the timer fired.
        let _ = self.items.try_update(|items| items.retain(|t| t.id != id));
    }
}

pub fn use_toasts() -> Toasts {
    expect_context()
}
