//! Who is signed in, as the server says: asked with `GET /users/me` on load
//! and after signing in or out. The session itself is the httpOnly cookie,
//! which page scripts cannot read, so this holds the user and nothing more.
//! The server sets a readable hint beside it (`shop_signed_in=1`, the same
//! lifetime, no secret); without the hint nobody is asked, so an anonymous
//! visit makes no request that fails.

use std::time::Duration;

use gloo_timers::future::sleep;
use leptos::wasm_bindgen::JsCast;
use leptos::{prelude::*, task::spawn_local};
use shop_types::{SIGNED_IN_COOKIE, User};
use web_sys::HtmlDocument;

use crate::api;

/// A failed check is retried after this, so a session survives a gateway
/// that was briefly down when the page loaded.
const RECHECK_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// The first answer from the server has not arrived yet.
    Checking,
    Guest,
    User(User),
}

#[derive(Clone, Copy)]
pub struct Session {
    auth: RwSignal<Auth>,
    user_id: Memo<Option<i64>>,
}

impl Session {
    /// Creates the session, puts it in context and starts the first check.
    pub fn provide() -> Self {
        let auth = RwSignal::new(Auth::Checking);
        let session = Self {
            auth,
            // A memo, so re-confirming the same user does not look like a
            // change to those who reconnect on sign-in and sign-out.
            user_id: Memo::new(move |_| match &*auth.read() {
                Auth::User(u) => Some(u.id),
                _ => None,
            }),
        };
        provide_context(session);
        spawn_local(async move {
            while !session.refresh().await {
                sleep(RECHECK_AFTER).await;
            }
        });
        session
    }

    pub fn auth(&self) -> Auth {
        self.auth.get()
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user_id.get()
    }

    /// Asks the server who is signed in. Returns whether it answered; on a
    /// failure the state is left alone, except that a first check counts as
    /// signed out so pages stop waiting.
    pub async fn refresh(self) -> bool {
        if !hinted() {
            self.settle(Auth::Guest);
            return true;
        }
        match api::me().await {
            Ok(Some(user)) => {
                self.settle(Auth::User(user));
                true
            }
            Ok(None) => {
                forget_hint();
                self.settle(Auth::Guest);
                true
            }
            Err(_) => {
                if self.auth.with_untracked(|a| *a == Auth::Checking) {
                    self.auth.set(Auth::Guest);
                }
                false
            }
        }
    }

    /// The server refused the session (401): it expired or was revoked.
    pub fn ended(&self) {
        forget_hint();
        self.settle(Auth::Guest);
    }

    /// Only a real change notifies: pages that show the signed-in state
    /// would otherwise be rebuilt, losing what the visitor typed.
    fn settle(&self, auth: Auth) {
        if self.auth.with_untracked(|now| *now != auth) {
            self.auth.set(auth);
        }
    }
}

fn document() -> Option<HtmlDocument> {
    web_sys::window()?.document()?.dyn_into().ok()
}

/// Whether the server's hint says a session cookie was set.
fn hinted() -> bool {
    let Some(cookies) = document().and_then(|d| d.cookie().ok()) else {
        return false;
    };
    cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .any(|(name, value)| name == SIGNED_IN_COOKIE && value == "1")
}

/// The server refused the session (it expired early or was ended
/// elsewhere): the next visit need not ask again.
fn forget_hint() {
    if let Some(d) = document() {
        let _ = d.set_cookie(&format!(
            "{SIGNED_IN_COOKIE}=; Max-Age=0; Path=/; SameSite=Lax"
        ));
    }
}

pub fn use_session() -> Session {
    expect_context()
}
