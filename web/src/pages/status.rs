//! `/status`: the gateway's health report as a dashboard, fetched on load and
//! refreshed every few seconds for as long as the page is open.

use std::time::Duration;

use chrono::Timelike;
use gloo_timers::future::sleep;
use leptos::{either::Either, prelude::*, task::spawn_local};
use shop_types::{HealthReport, OverallStatus, ServiceHealth, ServiceStatus};

use crate::api;

const REFRESH_EVERY: Duration = Duration::from_secs(3);

#[component]
pub fn StatusPage() -> impl IntoView {
    let tick = RwSignal::new(0_u32);
    let report = LocalResource::new(move || {
        tick.track();
        api::health()
    });
    // The signal is disposed with the page, so the loop ends when the
    // visitor navigates away instead of polling forever in the background.
    spawn_local(async move {
        loop {
            sleep(REFRESH_EVERY).await;
            if tick.try_update(|n| *n = n.wrapping_add(1)).is_none() {
                break;
            }
        }
    });

    view! {
        <section aria-labelledby="status-title" class="space-y-6">
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h1 id="status-title" class="text-2xl font-bold tracking-tight sm:text-3xl">
                    "System status"
                </h1>
                <p class="text-sm text-slate-500">"Refreshes every 3 seconds"</p>
            </div>
            // Transition, not Suspense: a refresh keeps the last report on
            // screen instead of flashing the loading state every 3 seconds.
            <Transition fallback=Loading>
                <ErrorBoundary fallback=|errors| {
                    view! { <Unavailable errors /> }
                }>
                    {move || {
                        report.get().map(|answer| answer.map(|report| view! { <Dashboard report /> }))
                    }}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

#[component]
fn Loading() -> impl IntoView {
    view! {
        <p
            role="status"
            data-state="loading"
            class="rounded-xl bg-white p-6 text-slate-500 shadow-sm ring-1 ring-slate-200"
        >
            "Checking the services…"
        </p>
    }
}

/// The gateway gave no usable report; polling goes on, and the dashboard
/// comes back by itself with the next good answer.
#[component]
fn Unavailable(errors: ArcRwSignal<Errors>) -> impl IntoView {
    let reasons = move || {
        errors
            .get()
            .into_iter()
            .map(|(_, e)| view! { <li>{e.to_string()}</li> })
            .collect_view()
    };
    view! {
        <div
            role="alert"
            data-state="error"
            class="rounded-xl border border-red-200 bg-red-50 p-6 text-red-900"
        >
            <h2 class="text-lg font-semibold">"Status unavailable"</h2>
            <ul class="mt-2 space-y-1 text-sm">{reasons}</ul>
            <p class="mt-3 text-sm text-red-700">"Trying again every 3 seconds."</p>
        </div>
    }
}

#[component]
fn Dashboard(report: HealthReport) -> impl IntoView {
    let total = report.services.len();
    let up = report
        .services
        .values()
        .filter(|s| s.status == ServiceStatus::Up)
        .count();
    // By hand: chrono's strftime parser would add ~10 KB to the wasm.
    let t = report.timestamp.time();
    let checked_at = format!("{:02}:{:02}:{:02} UTC", t.hour(), t.minute(), t.second());
    let (marker, label, tone) = overall_look(report.status);

    view! {
        <div
            data-overall=marker
            class=format!("flex flex-wrap items-center gap-4 rounded-xl p-5 ring-1 {tone}")
        >
            <span aria-hidden="true" class="size-3 shrink-0 rounded-full bg-current"></span>
            <div class="min-w-0 flex-1">
                <p class="text-lg font-semibold">{label}</p>
                <p class="text-sm opacity-80">
                    {format!("{up} of {total} services up · checked at {checked_at}")}
                </p>
            </div>
        </div>
        <ul class="grid gap-4 sm:grid-cols-2">
            {report
                .services
                .into_iter()
                .map(|(name, health)| view! { <ServiceCard name health /> })
                .collect_view()}
        </ul>
    }
}

#[component]
fn ServiceCard(name: String, health: ServiceHealth) -> impl IntoView {
    let is_up = health.status == ServiceStatus::Up;
    let (marker, badge) = if is_up {
        ("up", "bg-emerald-100 text-emerald-800")
    } else {
        ("down", "bg-red-100 text-red-800")
    };
    let detail = if is_up {
        Either::Left(view! {
            <dt class="text-slate-500">"Response time"</dt>
            <dd class="font-medium tabular-nums">
                {health.response_time_ms.map_or_else(|| "–".to_owned(), |ms| format!("{ms} ms"))}
            </dd>
        })
    } else {
        Either::Right(view! {
            <dt class="text-slate-500">"Error"</dt>
            <dd class="font-medium break-words text-red-700">
                {health.error.unwrap_or_else(|| "no answer".to_owned())}
            </dd>
        })
    };

    let marker_name = name.clone();
    view! {
        <li
            data-service=marker_name
            data-status=marker
            class="rounded-xl bg-white p-5 shadow-sm ring-1 ring-slate-200"
        >
            <div class="flex items-center justify-between gap-3">
                <h2 class="truncate font-mono text-base font-semibold">{name}</h2>
                <span class=format!(
                    "rounded-full px-2.5 py-0.5 text-xs font-semibold {badge}",
                )>{marker}</span>
            </div>
            <dl class="mt-4 grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
                {detail}
                <dt class="text-slate-500">"URL"</dt>
                <dd class="min-w-0 font-mono text-xs break-all text-slate-700">{health.url}</dd>
            </dl>
        </li>
    }
}

/// The `data-overall` marker, the words shown, and the colours for a verdict.
fn overall_look(status: OverallStatus) -> (&'static str, &'static str, &'static str) {
    match status {
        OverallStatus::Healthy => (
            "healthy",
            "All systems operational",
            "bg-emerald-50 text-emerald-900 ring-emerald-200",
        ),
        OverallStatus::Degraded => (
            "degraded",
            "Degraded: some services are down",
            "bg-amber-50 text-amber-900 ring-amber-200",
        ),
        OverallStatus::Unhealthy => (
            "unhealthy",
            "Unhealthy: every service is down",
            "bg-red-50 text-red-900 ring-red-200",
        ),
    }
}
