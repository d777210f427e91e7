//! The one live socket of this tab (`/ws/notifications`). It is open while
//! someone is signed in, authenticated by the session cookie the browser
//! sends with the upgrade; it pings every 30 s so proxies keep it open, and
//! after a drop it reconnects with growing, jittered delays. Signing in or
//! out closes it and, when someone is signed in, opens a fresh one.

use std::{cell::RefCell, rc::Rc};

use gloo_timers::callback::{Interval, Timeout};
use leptos::{
    prelude::*,
    task::spawn_local,
    wasm_bindgen::{JsCast, closure::Closure},
};
use shop_types::{ClientMessage, ServerMessage};
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

use crate::{
    api,
    session::Session,
    toasts::{Live, Toasts},
};

const PING_EVERY_MS: u32 = 30_000;
const FIRST_RETRY_MS: f64 = 1_000.0;
const LONGEST_RETRY_MS: f64 = 30_000.0;
/// The close code of a socket whose session ended (policy violation).
const SESSION_ENDED: u16 = 1008;

/// Starts following the session: connects while someone is signed in.
pub fn start(session: Session, toasts: Toasts) {
    let link = Rc::new(RefCell::new(Link::default()));
    let ping = serde_json::to_string(&ClientMessage::Ping).unwrap_or_default();
    let ctx = Ctx {
        session,
        toasts,
        ping: Rc::from(ping),
    };
    Effect::new(move |_| {
        let signed_in = session.user_id().is_some();
        stop(&link);
        if signed_in {
            connect(&link, &ctx);
        } else {
            toasts.set_live(Live::Off);
        }
    });
}

#[derive(Clone)]
struct Ctx {
    session: Session,
    toasts: Toasts,
    ping: Rc<str>,
}

/// The current socket and what keeps it going. `generation` changes with
/// every new socket and on stop, so callbacks and timers of an older one
/// know they are stale and do nothing.
#[derive(Default)]
struct Link {
    generation: u32,
    failures: u32,
    socket: Option<WebSocket>,
    handlers: Option<Handlers>,
    ping: Option<Interval>,
    retry: Option<Timeout>,
}

/// Kept alive for as long as the socket may call them.
struct Handlers {
    _open: Closure<dyn FnMut(Event)>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

type Shared = Rc<RefCell<Link>>;

fn connect(link: &Shared, ctx: &Ctx) {
    let Some(url) = api::notifications_socket_url() else {
        return;
    };
    let socket = match WebSocket::new(&url) {
        Ok(socket) => socket,
        Err(_) => {
            // Only a malformed address fails here; retrying cannot help.
            leptos::logging::warn!("live updates unavailable: bad address {url}");
            return;
        }
    };
    let generation = {
        let mut l = link.borrow_mut();
        l.generation = l.generation.wrapping_add(1);
        l.generation
    };
    ctx.toasts.set_live(Live::Connecting);

    let opened = Rc::new(std::cell::Cell::new(false));
    let open = Closure::<dyn FnMut(Event)>::new({
        let (link, ctx, opened, socket) =
            (link.clone(), ctx.clone(), opened.clone(), socket.clone());
        move |_: Event| {
            let mut l = link.borrow_mut();
            if l.generation != generation {
                return;
            }
            opened.set(true);
            l.failures = 0;
            ctx.toasts.set_live(Live::Connected);
            let (socket, ping) = (socket.clone(), ctx.ping.clone());
            l.ping = Some(Interval::new(PING_EVERY_MS, move || {
                let _ = socket.send_with_str(&ping);
            }));
        }
    });
    let message = Closure::<dyn FnMut(MessageEvent)>::new({
        let toasts = ctx.toasts;
        move |e: MessageEvent| {
            let Some(text) = e.data().as_string() else {
                return;
            };
            // Connected and pong need no action: any message shows the link works.
            if let Ok(ServerMessage::Notification { data }) = serde_json::from_str(&text) {
                toasts.notify(data);
            }
        }
    });
    let close = Closure::<dyn FnMut(CloseEvent)>::new({
        let (link, ctx) = (link.clone(), ctx.clone());
        move |e: CloseEvent| {
            if link.borrow().generation != generation {
                return;
            }
            if !opened.get() || e.code() == SESSION_ENDED {
                // Refused before opening, or closed because the session
                // ended (a logout elsewhere, a deactivation, an expired
                // token). If it did end, the session turns to guest, which
                // signs this tab out and stops the retries.
                let session = ctx.session;
                spawn_local(async move {
                    session.refresh().await;
                });
            }
            schedule_retry(&link, &ctx, generation);
        }
    });
    socket.set_onopen(Some(open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(close.as_ref().unchecked_ref()));

    let mut l = link.borrow_mut();
    l.socket = Some(socket);
    // Replacing the previous socket's handlers is safe: this runs from a
    // timer or an effect, never from inside one of those handlers.
    l.handlers = Some(Handlers {
        _open: open,
        _message: message,
        _close: close,
    });
}

fn schedule_retry(link: &Shared, ctx: &Ctx, generation: u32) {
    let mut l = link.borrow_mut();
    l.ping = None;
    l.failures = l.failures.saturating_add(1);
    ctx.toasts.set_live(Live::Connecting);
    let delay = retry_delay_ms(l.failures, js_sys::Math::random());
    let (link_for_timer, ctx) = (link.clone(), ctx.clone());
    l.retry = Some(Timeout::new(delay, move || {
        if link_for_timer.borrow().generation == generation {
            detach(&link_for_timer);
            connect(&link_for_timer, &ctx);
        }
    }));
}

/// Doubles from 1 s up to 30 s, then spread by ±20 % so that tabs dropped
/// together by a restart do not all come back in the same instant.
fn retry_delay_ms(failures: u32, random: f64) -> u32 {
    let exponent = failures.saturating_sub(1).min(16);
    let base = (FIRST_RETRY_MS * f64::from(1_u32 << exponent)).min(LONGEST_RETRY_MS);
    (base * (0.8 + 0.4 * random)) as u32
}

/// Unhooks the current socket so it can call nothing more.
fn detach(link: &Shared) {
    let mut l = link.borrow_mut();
    if let Some(socket) = l.socket.take() {
        socket.set_onopen(None);
        socket.set_onmessage(None);
        socket.set_onclose(None);
        let _ = socket.close();
    }
    l.ping = None;
}

fn stop(link: &Shared) {
    detach(link);
    let mut l = link.borrow_mut();
    l.generation = l.generation.wrapping_add(1);
    l.failures = 0;
    l.retry = None;
    l.handlers = None;
}

#[cfg(test)]
mod tests {
    use super::retry_delay_ms;

    #[test]
    fn retries_back_off_from_one_second_to_thirty() {
        assert_eq!(retry_delay_ms(1, 0.5), 1_000);
        assert_eq!(retry_delay_ms(2, 0.5), 2_000);
        assert_eq!(retry_delay_ms(5, 0.5), 16_000);
        assert_eq!(retry_delay_ms(6, 0.5), 30_000);
        assert_eq!(retry_delay_ms(400, 0.5), 30_000);
    }

    #[test]
    fn retries_are_spread_by_a_fifth_either_way() {
        assert_eq!(retry_delay_ms(1, 0.0), 800);
        assert_eq!(retry_delay_ms(1, 1.0), 1_200);
    }
}
