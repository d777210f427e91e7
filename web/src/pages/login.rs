//! `/login`: email and password, or Google when the shop offers it. The
//! server answers with the session cookie; the page then asks who is signed
//! in and goes where the visitor was headed (`?next=`). A Google sign-in
//! that failed comes back here with `?error=`, shown as it is.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{
    NavigateOptions,
    components::A,
    hooks::{use_navigate, use_query_map},
};
use shop_types::LoginRequest;

use crate::{
    api,
    components::ui::{BUTTON, CARD, LINK, Notice, TextField},
    session::{Auth, use_session},
};

/// Only paths of this site: `?next=//evil.example` must not send a visitor
/// away after signing in.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    crate::components::ui::page_title("Sign in");
    let session = use_session();
    let navigate = use_navigate();
    let query = use_query_map();
    let next = query.with_untracked(|q| safe_next(q.get_str("next")));
    let just_registered = query.with_untracked(|q| q.get_str("registered").is_some());
    let came_back_with = query.with_untracked(|q| q.get("error"));
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let pending = RwSignal::new(false);

    let submit = {
        let next = next.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if pending.get_untracked() {
                return;
            }
            pending.set(true);
            error.set(None);
            let credentials = LoginRequest {
                email: email.get_untracked().trim().to_owned(),
                password: password.get_untracked(),
            };
            let (navigate, next) = (navigate.clone(), next.clone());
            spawn_local(async move {
                let answer = api::login(&credentials).await;
                if answer.is_ok() {
                    session.refresh().await;
                }
                pending.set(false);
                match answer {
                    Ok(()) => {
                        password.set(String::new());
                        navigate(&next, NavigateOptions::default());
                    }
                    Err(e) => error.set(Some(match e.status() {
                        Some(401) => "Invalid email or password.".to_owned(),
                        Some(429) => "Too many attempts. Wait a minute and try again.".to_owned(),
                        _ => e.for_people(),
                    })),
                }
            });
        }
    };
    let register_href = if next == "/" {
        "/register".to_owned()
    } else {
        format!("/register?next={next}")
    };

    view! {
        <section aria-labelledby="login-title" class="mx-auto max-w-md space-y-6">
            <h1 id="login-title" class="text-2xl font-bold tracking-tight sm:text-3xl">"Sign in"</h1>
            {just_registered
                .then(|| {
                    view! {
                        <Notice tone="success">
                            "Your account is ready. Sign in with your email and password."
                        </Notice>
                    }
                })}
            {came_back_with
                .map(|message| {
                    view! {
                        <div data-testid="sign-in-problem">
                            <Notice tone="error">{message}</Notice>
                        </div>
                    }
                })}
            {move || match session.auth() {
                Auth::User(user) if !pending.get() => Some(view! {
                    <Notice tone="info">
                        {format!("You are signed in as {}. ", user.username)}
                        <A href="/" attr:class=LINK>"Continue shopping"</A>
                    </Notice>
                }),
                _ => None,
            }}
            <form class=format!("{CARD} space-y-4") on:submit=submit>
                <TextField id="login-email" label="Email" kind="email" autocomplete="email" value=email />
                <TextField
                    id="login-password"
                    label="Password"
                    kind="password"
                    autocomplete="current-password"
                    value=password
                />
                {move || {
                    error
                        .get()
                        .map(|message| {
                            view! {
                                <div data-testid="login-error">
                                    <Notice tone="error">{message}</Notice>
                                </div>
                            }
                        })
                }}
                <button type="submit" data-testid="login-submit" class=format!("w-full {BUTTON}") disabled=move || pending.get()>
                    {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
            <GoogleSignIn />
            <p class="text-center text-sm text-slate-600">
                "New here? "
                <A href=register_href attr:class=LINK>
                    "Create an account"
                </A>
            </p>
        </section>
    }
}

/// "Sign in with Google", shown only when the shop has it configured.
#[component]
pub fn GoogleSignIn() -> impl IntoView {
    let providers = LocalResource::new(api::providers);
    move || {
        let offered = providers
            .get()
            .is_some_and(|answer| answer.is_ok_and(|p| p.google));
        offered.then(|| {
            view! {
                <div class="space-y-4">
                    <p class="text-center text-xs uppercase tracking-wide text-slate-500">"or"</p>
                    <a
                        href=api::GOOGLE_SIGN_IN
                        rel="external"
                        data-testid="google-sign-in"
                        class="flex w-full items-center justify-center gap-2 rounded-md border border-slate-300 bg-white px-4 py-2 text-sm font-semibold text-slate-800 shadow-sm hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
                    >
                        <span aria-hidden="true" class="font-bold text-indigo-600">"G"</span>
                        "Sign in with Google"
                    </a>
                </div>
            }
        })
    }
}

/// `/auth/callback`: where a Google sign-in lands with the session cookie
/// set. Asks who is signed in, then goes to the shop.
#[component]
pub fn AuthCallbackPage() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    spawn_local(async move {
        session.refresh().await;
        let to = if matches!(session.auth(), Auth::User(_)) {
            "/"
        } else {
            "/login?error=The+sign-in+did+not+complete%3B+please+try+again."
        };
        navigate(
            to,
            NavigateOptions {
                replace: true,
                ..NavigateOptions::default()
            },
        );
    });
    view! {
        <p class="text-center text-slate-600" data-testid="auth-callback">"Signing you in…"</p>
    }
}
