//! The router, the page layout every route shares, and the app-wide state
//! (session, cart, toasts and the live socket) put in context.

use leptos::prelude::*;
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

use crate::{
    cart::Cart,
    components::{Footer, Header, ToastRegion},
    live,
    pages::{
        AdminPage, AuthCallbackPage, CartPage, CheckoutPage, LoginPage, NotFound, OrdersPage,
        ProductPage, ProductsPage, RegisterPage, StatusPage,
    },
    session::Session,
    toasts::Toasts,
};

#[component]
pub fn App() -> impl IntoView {
    let session = Session::provide();
    Cart::provide();
    let toasts = Toasts::provide();
    live::start(session, toasts);

    view! {
        <Router>
            <a
                href="#main"
                class="sr-only rounded-md bg-white px-3 py-2 text-sm font-semibold text-indigo-700 focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:z-50"
            >
                "Skip to content"
            </a>
            <div class="flex min-h-screen flex-col bg-slate-50 text-slate-900">
                <Header />
                <main id="main" tabindex="-1" class="mx-auto w-full max-w-5xl flex-1 px-4 py-8 outline-none sm:px-6">
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=ProductsPage />
                        <Route path=path!("/products/:id") view=ProductPage />
                        <Route path=path!("/cart") view=CartPage />
                        <Route path=path!("/checkout") view=CheckoutPage />
                        <Route path=path!("/orders") view=OrdersPage />
                        <Route path=path!("/login") view=LoginPage />
                        <Route path=path!("/auth/callback") view=AuthCallbackPage />
                        <Route path=path!("/register") view=RegisterPage />
                        // The console bundle's pages; in the storefront's
                        // bundle these load the console's page.
                        <Route path=path!("/status") view=StatusPage />
                        <Route path=path!("/admin") view=AdminPage />
                        <Route path=path!("/admin/:section") view=AdminPage />
                    </Routes>
                </main>
                <Footer />
            </div>
            <ToastRegion />
        </Router>
    }
}
