// Starts the app by loading its WebAssembly module. A file of its own, not an
// inline script, so the page runs under a Content-Security-Policy without
// 'unsafe-inline'. The build stamps each ?v= with a fingerprint of the sources.
import init from "/shop-web.js?v=__VERSION__";

// The WebAssembly is built to stop at once on a Rust panic, without the code
// that would describe it (web/.cargo/config.toml): the browser reports a
// WebAssembly.RuntimeError, and from then on the app no longer responds. Say
// so instead of leaving a page that silently ignores clicks.
function crashed(error) {
  if (!(error instanceof WebAssembly.RuntimeError)) return;
  if (document.querySelector('[data-testid="app-crashed"]')) return;
  const banner = document.createElement("div");
  banner.setAttribute("role", "alert");
  banner.setAttribute("data-testid", "app-crashed");
  banner.className =
    "fixed inset-x-0 top-0 z-50 bg-red-700 px-4 py-3 text-center text-sm font-semibold text-white";
  banner.textContent =
    "Something went wrong and the page stopped working. Please reload it; your cart is kept.";
  document.body.append(banner);
}
addEventListener("error", (event) => crashed(event.error));
addEventListener("unhandledrejection", (event) => crashed(event.reason));

init({ module_or_path: "/shop-web_bg.wasm?v=__VERSION__" });
