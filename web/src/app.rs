//! The router and the page layout every route shares.

use leptos::prelude::*;
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

use crate::components::{Footer, Header};
use crate::pages::{ComingSoon, HomePage, NotFound, StatusPage};

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <div class="flex min-h-screen flex-col bg-slate-50 text-slate-900">
                <Header />
                <main class="mx-auto w-full max-w-5xl flex-1 px-4 py-8 sm:px-6">
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=HomePage />
                        <Route
                            path=path!("/cart")
                            view=|| view! { <ComingSoon title="Cart" /> }
                        />
                        <Route
                            path=path!("/orders")
                            view=|| view! { <ComingSoon title="Orders" /> }
                        />
                        <Route
                            path=path!("/login")
                            view=|| view! { <ComingSoon title="Sign in" /> }
                        />
                        <Route path=path!("/status") view=StatusPage />
                    </Routes>
                </main>
                <Footer />
            </div>
        </Router>
    }
}
