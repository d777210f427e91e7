//! `/register`: a new account. The server's reasons for refusing (a taken
//! email or username, a short password) are shown next to their fields.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{
    NavigateOptions,
    components::A,
    hooks::{use_navigate, use_query_map},
};
use shop_types::RegisterRequest;

use super::login::{GoogleSignIn, safe_next};
use crate::{
    api::{self, ApiError},
    components::ui::{BUTTON, CARD, LINK, Notice, TextField},
};

const FIELDS: [&str; 3] = ["email", "username", "password"];

/// Field messages from a refusal, and a message for the form when a
/// reason belongs to no field.
fn reasons(error: &ApiError) -> (Vec<(String, String)>, Option<String>) {
    match error {
        ApiError::Status {
            code: 422, fields, ..
        } if !fields.is_empty() => {
            let (known, other): (Vec<_>, Vec<_>) = fields
                .iter()
                .cloned()
                .partition(|(f, _)| FIELDS.contains(&f.as_str()));
            let other = (!other.is_empty()).then(|| {
                other
                    .into_iter()
                    .map(|(_, m)| m)
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            (known, other)
        }
        // 409 says which: "Email already registered" / "Username already taken".
        ApiError::Status {
            code: 409, detail, ..
        } => {
            let lower = detail.to_lowercase();
            match FIELDS.iter().find(|f| lower.starts_with(*f)) {
                Some(field) => (vec![((*field).to_owned(), detail.clone())], None),
                None => (Vec::new(), Some(detail.clone())),
            }
        }
        other => (Vec::new(), Some(other.for_people())),
    }
}

#[component]
pub fn RegisterPage() -> impl IntoView {
    crate::components::ui::page_title("Create an account");
    let navigate = use_navigate();
    let next = use_query_map().with_untracked(|q| safe_next(q.get_str("next")));
    let email = RwSignal::new(String::new());
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let field_errors = RwSignal::new(Vec::<(String, String)>::new());
    let form_error = RwSignal::new(None::<String>);
    let pending = RwSignal::new(false);
    let error_of = move |field: &'static str| {
        Signal::derive(move || {
            field_errors.with(|errors| {
                let messages: Vec<&str> = errors
                    .iter()
                    .filter(|(f, _)| f == field)
                    .map(|(_, m)| m.as_str())
                    .collect();
                (!messages.is_empty()).then(|| messages.join(" "))
            })
        })
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        pending.set(true);
        field_errors.set(Vec::new());
        form_error.set(None);
        let account = RegisterRequest {
            email: email.get_untracked().trim().to_owned(),
            username: username.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
        };
        let (navigate, next) = (navigate.clone(), next.clone());
        spawn_local(async move {
            let answer = api::register(&account).await;
            pending.set(false);
            match answer {
                Ok(_) => {
                    let to = if next == "/" {
                        "/login?registered=1".to_owned()
                    } else {
                        format!("/login?registered=1&next={next}")
                    };
                    navigate(&to, NavigateOptions::default());
                }
                Err(e) => {
                    let (fields, general) = reasons(&e);
                    field_errors.set(fields);
                    form_error.set(general);
                }
            }
        });
    };

    view! {
        <section aria-labelledby="register-title" class="mx-auto max-w-md space-y-6">
            <h1 id="register-title" class="text-2xl font-bold tracking-tight sm:text-3xl">"Create an account"</h1>
            // The server's rules are the only ones: its messages appear next
            // to the fields instead of the browser's own bubbles.
            <form class=format!("{CARD} space-y-4") novalidate on:submit=submit>
                <TextField id="register-email" label="Email" kind="email" autocomplete="email" value=email error=error_of("email") />
                <TextField
                    id="register-username"
                    label="Username"
                    autocomplete="username"
                    value=username
                    error=error_of("username")
                    hint="3 to 50 characters."
                />
                <TextField
                    id="register-password"
                    label="Password"
                    kind="password"
                    autocomplete="new-password"
                    value=password
                    error=error_of("password")
                    hint="At least 8 characters."
                    minlength=8
                />
                {move || {
                    form_error
                        .get()
                        .map(|message| {
                            view! {
                                <div data-testid="register-error">
                                    <Notice tone="error">{message}</Notice>
                                </div>
                            }
                        })
                }}
                <button type="submit" data-testid="register-submit" class=format!("w-full {BUTTON}") disabled=move || pending.get()>
                    {move || if pending.get() { "Creating your account…" } else { "Create account" }}
                </button>
            </form>
            <GoogleSignIn />
            <p class="text-center text-sm text-slate-600">
                "Already have an account? "
                <A href="/login" attr:class=LINK>
                    "Sign in"
                </A>
            </p>
        </section>
    }
}
