// Starts the app by loading its WebAssembly module. A file of its own, not an
// inline script, so the page runs under a Content-Security-Policy without
// 'unsafe-inline'. The build stamps each ?v= with a fingerprint of the sources.
import init from "/shop-web.js?v=__VERSION__";
init({ module_or_path: "/shop-web_bg.wasm?v=__VERSION__" });
