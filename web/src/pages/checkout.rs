//! `/checkout`: the order as it will be placed, and the button that places
//! it. Refusals are explained and the cart is kept, so nothing is lost.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{NavigateOptions, components::A, hooks::use_navigate};
use shop_types::{CreateOrderRequest, OrderLineRequest, PaymentRequest};

use super::cart::{CartProducts, EmptyCart, cart_products, priced_lines};
use crate::{
    api::{self, ApiError},
    cart::{self, PricedLine, use_cart},
    components::ui::{BUTTON, CARD, INPUT, LABEL, LINK, Loaded, Loading, Notice, PageTitle, money},
    session::{Auth, use_session},
};

/// Why the last attempt placed no order.
#[derive(Debug, Clone, PartialEq)]
enum Refusal {
    /// 409: the server's sentence names the product and what is left.
    Stock(String),
    SignedOut,
    Declined,
    /// No answer (timeout or network): the order may exist; the same key
    /// makes a retry safe.
    NoAnswer,
    Failed(String),
}

impl Refusal {
    fn kind(&self) -> &'static str {
        match self {
            Self::Stock(_) => "insufficient-stock",
            Self::SignedOut => "signed-out",
            Self::Declined => "declined",
            Self::NoAnswer => "no-answer",
            Self::Failed(_) => "failed",
        }
    }

    fn explain(&self) -> String {
        const KEPT: &str = "Your cart has been kept.";
        match self {
            Self::Stock(detail) => {
                format!("{detail}. {KEPT} Lower the quantity and try again.")
            }
            Self::SignedOut => {
                format!("Your session has ended. Sign in again to place the order. {KEPT}")
            }
            Self::Declined => format!(
                "Your card was declined, so the order was cancelled and nothing was charged. {KEPT}"
            ),
            Self::NoAnswer => format!(
                "We could not hear back from the shop, so we cannot tell whether the order went \
                 through. Check your connection and press Place order again: it will never create \
                 a second order. {KEPT}"
            ),
            Self::Failed(why) => format!("The order could not be placed. {why} {KEPT}"),
        }
    }
}

fn refusal(error: &ApiError) -> Refusal {
    match error {
        ApiError::Status {
            code: 409, detail, ..
        } if detail.starts_with("Insufficient stock") => Refusal::Stock(detail.clone()),
        ApiError::Status { code: 401, .. } => Refusal::SignedOut,
        ApiError::Status { code: 402, .. } => Refusal::Declined,
        ApiError::Unreachable(_) => Refusal::NoAnswer,
        other => Refusal::Failed(other.for_people()),
    }
}

/// An answer that settles the attempt: the key is used up. Otherwise (no
/// answer, or a 5xx that the server does not record) the next attempt with
/// the same order reuses the key.
fn settled(error: &ApiError) -> bool {
    matches!(error.status(), Some(code) if code < 500)
}

/// What the order form holds. Kept by the page, not the form: the form is
/// rebuilt when the products are read again (after a refusal), and the
/// message explaining that refusal must survive it.
#[derive(Clone, Copy)]
struct Attempt {
    card: RwSignal<String>,
    pending: RwSignal<bool>,
    refused: RwSignal<Option<Refusal>>,
    /// The request an unsettled attempt was made with, and its key.
    unsettled: StoredValue<Option<(CreateOrderRequest, String)>>,
}

impl Attempt {
    fn new() -> Self {
        Self {
            card: RwSignal::new(String::new()),
            pending: RwSignal::new(false),
            refused: RwSignal::new(None),
            unsettled: StoredValue::new(None),
        }
    }
}

#[component]
pub fn CheckoutPage() -> impl IntoView {
    crate::components::ui::page_title("Checkout");
    let cart = use_cart();
    let session = use_session();
    let products = cart_products();
    let lines = priced_lines(products);
    let attempt = Attempt::new();

    view! {
        <section aria-labelledby="checkout-title" class="space-y-6">
            <PageTitle id="checkout-title" title="Checkout" />
            <Show when=move || !cart.is_empty() fallback=EmptyCart>
                <Loaded
                    data=products
                    loading="Preparing your order…"
                    failed="Your order could not be prepared"
                    render=move |_| {
                        view! {
                            <div class="grid gap-6 lg:grid-cols-[3fr_2fr] lg:items-start">
                                <Summary lines />
                                {move || match session.auth() {
                                    Auth::Checking => view! { <Loading label="Checking your session…" /> }.into_any(),
                                    Auth::Guest => {
                                        let ended = attempt.refused.get_untracked()
                                            == Some(Refusal::SignedOut);
                                        view! { <SignInFirst ended /> }.into_any()
                                    }
                                    Auth::User(_) => view! { <PlaceOrder lines products attempt /> }.into_any(),
                                }}
                            </div>
                        }
                    }
                />
            </Show>
        </section>
    }
}

#[component]
fn Summary(lines: Memo<Vec<PricedLine>>) -> impl IntoView {
    view! {
        <div class=CARD>
            <h2 class="text-lg font-semibold">"Your order"</h2>
            <ul class="mt-4 divide-y divide-slate-200">
                {move || {
                    lines
                        .get()
                        .into_iter()
                        .map(|l| {
                            let name = l
                                .product
                                .as_ref()
                                .map_or_else(|| format!("Product {}", l.line.product_id), |p| p.name.clone());
                            view! {
                                <li data-testid="checkout-line" data-product-id=l.line.product_id class="flex justify-between gap-3 py-3 text-sm">
                                    <div class="min-w-0">
                                        <p class="font-medium">{format!("{name} × {}", l.line.quantity)}</p>
                                        {l
                                            .problem()
                                            .map(|p| {
                                                view! { <p class="mt-1 text-amber-800">{p.describe()}</p> }
                                            })}
                                    </div>
                                    <p class="font-semibold tabular-nums">{l.subtotal().map(money)}</p>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            <div class="mt-4 flex items-baseline justify-between border-t border-slate-200 pt-4">
                <p class="font-semibold">"Total"</p>
                <p data-testid="checkout-total" class="text-xl font-semibold tabular-nums">
                    {move || money(lines.with(|l| cart::total(l)))}
                </p>
            </div>
            <p class="mt-4 text-sm">
                <A href="/cart" attr:class=LINK>
                    "Change the cart"
                </A>
            </p>
        </div>
    }
}

/// For guests, and for shoppers whose session `ended` while checking out.
#[component]
fn SignInFirst(ended: bool) -> impl IntoView {
    view! {
        <div data-testid="checkout-signin" data-ended=ended class=format!("{CARD} space-y-3")>
            {ended
                .then(|| {
                    view! {
                        <Notice tone="warning">
                            "Your session ended before the order was placed. Nothing was ordered."
                        </Notice>
                    }
                })}
            <h2 class="text-lg font-semibold">"Sign in to place your order"</h2>
            <p class="text-sm text-slate-600">"Your cart stays in this browser while you sign in."</p>
            <div class="flex flex-wrap gap-3">
                <A href="/login?next=/checkout" attr:class=BUTTON>
                    "Sign in"
                </A>
                <A href="/register" attr:class=LINK>
                    "Create an account"
                </A>
            </div>
        </div>
    }
}

#[component]
fn PlaceOrder(
    lines: Memo<Vec<PricedLine>>,
    products: CartProducts,
    attempt: Attempt,
) -> impl IntoView {
    let cart = use_cart();
    let session = use_session();
    let navigate = use_navigate();
    let Attempt {
        card,
        pending,
        refused,
        unsettled,
    } = attempt;
    let blocked = move || lines.with(|l| l.is_empty() || l.iter().any(|l| l.problem().is_some()));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() || blocked() {
            return;
        }
        let card_number: String = card
            .get_untracked()
            .chars()
            // Typed in groups as printed; sent as digits.
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let order = CreateOrderRequest {
            items: cart
                .lines()
                .into_iter()
                .map(|l| OrderLineRequest {
                    product_id: l.product_id,
                    quantity: l.quantity,
                })
                .collect(),
            payment: (!card_number.is_empty()).then_some(PaymentRequest { card_number }),
        };
        let key = match unsettled.get_value() {
            Some((earlier, key)) if earlier == order => key,
            _ => new_idempotency_key(),
        };
        unsettled.set_value(Some((order.clone(), key.clone())));
        pending.set(true);
        refused.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            let answer = api::place_order(&order, &key).await;
            pending.set(false);
            match answer {
                Ok(placed) => {
                    unsettled.set_value(None);
                    cart.clear();
                    navigate(
                        &format!("/orders?placed={}", placed.id),
                        NavigateOptions::default(),
                    );
                }
                Err(error) => {
                    if settled(&error) {
                        unsettled.set_value(None);
                    }
                    let why = refusal(&error);
                    refused.set(Some(why.clone()));
                    match why {
                        Refusal::Stock(_) => products.refetch(),
                        // The page then asks to sign in, saying why.
                        Refusal::SignedOut => session.ended(),
                        _ => {}
                    }
                }
            }
        });
    };

    view! {
        <form class=format!("{CARD} space-y-4") on:submit=submit>
            <h2 class="text-lg font-semibold">"Payment"</h2>
            <div>
                <label for="card-number" class=LABEL>
                    "Card number (optional)"
                </label>
                <input
                    id="card-number"
                    data-testid="card-number"
                    inputmode="numeric"
                    autocomplete="cc-number"
                    pattern="[0-9 ]*"
                    maxlength="23"
                    aria-describedby="card-hint"
                    class=format!("mt-1 {INPUT}")
                    bind:value=card
                />
                <p id="card-hint" class="mt-1 text-xs text-slate-500">
                    "Payment is simulated in this shop; leave the field empty to skip it."
                </p>
            </div>
            {move || {
                refused
                    .get()
                    .map(|why| {
                        let kind = why.kind();
                        let signed_out = why == Refusal::SignedOut;
                        view! {
                            <div data-testid="checkout-error" data-kind=kind>
                                <Notice tone="error">
                                    <p>{why.explain()}</p>
                                    {signed_out
                                        .then(|| {
                                            view! {
                                                <p class="mt-2">
                                                    <A href="/login?next=/checkout" attr:class=LINK>
                                                        "Sign in again"
                                                    </A>
                                                </p>
                                            }
                                        })}
                                </Notice>
                            </div>
                        }
                    })
            }}
            <button
                type="submit"
                data-testid="place-order"
                class=format!("w-full {BUTTON}")
                disabled=move || pending.get() || blocked()
                aria-busy=move || pending.get().to_string()
            >
                {move || if pending.get() { "Placing your order…" } else { "Place order" }}
            </button>
        </form>
    }
}

/// 128 random bits as hex. `getRandomValues` works on plain-HTTP pages too,
/// unlike `crypto.randomUUID`.
fn new_idempotency_key() -> String {
    let mut bytes = [0_u8; 16];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        // Unique enough for one user's retries: time plus Math.random.
        let now = js_sys::Date::now().to_bits().to_le_bytes();
        let noise = js_sys::Math::random().to_bits().to_le_bytes();
        bytes[..8].copy_from_slice(&now);
        bytes[8..].copy_from_slice(&noise);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
