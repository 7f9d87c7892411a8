// equiv's presenter keys: a Streamlit (components v1) component in plain JavaScript.
//
// Streamlit has no key events, so this iframe listens on its parent document (same origin: the
// app's own server) and answers what presentation clickers send:
//   PageDown, ArrowRight → next step; PageUp, ArrowLeft → previous step (sent back to Python as
//   {step, nonce}); F → the 3D viewer full screen (and back; Escape leaves it too).
// Keys typed into text inputs, text areas, selects or editable elements are never taken, nor keys
// with Ctrl/Alt/Meta. A new presenter iframe replaces the old one's listeners.
//
// args: step (1-based, current), n_steps, hint (text shown in the iframe).
"use strict";

(function () {
  function send(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data || {}), "*");
  }
  // Say "ready" until the first render message arrives: Streamlit drops a message posted before it
  // registered this iframe's listener (see the same loop in molviewer_frontend/viewer.js).
  let rendered = false;
  function announceReady(triesLeft) {
    if (rendered) return;
    const left = triesLeft === undefined ? 120 : triesLeft;
    if (left <= 0) return;
    send("streamlit:componentReady", { apiVersion: 1 });
    setTimeout(function () { announceReady(left - 1); }, 1000);
  }
  const state = { step: 1, n: 1, nonce: 0 };
  window.equivPresenter = state;

  function typing(target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName.toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") return true;
    if (target.isContentEditable) return true;
    const role = target.getAttribute && target.getAttribute("role");
    return role === "textbox" || role === "combobox" || role === "spinbutton" || role === "slider";
  }

  function go(delta) {
    const target = Math.min(Math.max(state.step + delta, 1), state.n);
    if (target === state.step) return;
    state.step = target; // a second press before the rerun goes on from here
    state.nonce += 1;
    send("streamlit:setComponentValue", { value: { step: target, nonce: Date.now() + ":" + state.nonce }, dataType: "json" });
  }

  function viewerFrame(doc) {
    return doc.querySelector("iframe[src*='molecule_viewer']");
  }

  // The viewer full screen: the real Fullscreen API where the browser grants it, and in any case a
  // class that makes the iframe cover the window (so it also works where fullscreen is refused).
  function toggleFullscreen(doc) {
    const frame = viewerFrame(doc);
    if (!frame) return;
    const on = !frame.classList.contains("equiv-fullscreen");
    setFullscreen(doc, frame, on);
  }

  function setFullscreen(doc, frame, on) {
    ensureStyle(doc);
    frame.classList.toggle("equiv-fullscreen", on);
    doc.body.dataset.equivFullscreen = on ? "1" : "0";
    try {
      if (on && frame.requestFullscreen && !doc.fullscreenElement) frame.requestFullscreen().catch(function () {});
      if (!on && doc.fullscreenElement) doc.exitFullscreen().catch(function () {});
    } catch (e) { /* the class alone does it */ }
    // The viewer sizes its stage to the window it is in (viewer.js: fullscreenLayout).
    try { frame.contentWindow.dispatchEvent(new Event("resize")); } catch (e) { /* not loaded yet */ }
  }

  function ensureStyle(doc) {
    if (doc.getElementById("equiv-presenter-style")) return;
    const style = doc.createElement("style");
    style.id = "equiv-presenter-style";
    style.textContent = "iframe.equiv-fullscreen { position: fixed !important; inset: 0 !important; width: 100vw !important;" +
      " height: 100vh !important; z-index: 1000000 !important; background: #fff !important; }";
    doc.head.appendChild(style);
    // Leaving the browser's full screen (Esc) leaves ours too.
    doc.addEventListener("fullscreenchange", function () {
      const frame = viewerFrame(doc);
      if (!doc.fullscreenElement && frame && frame.classList.contains("equiv-fullscreen")) setFullscreen(doc, frame, false);
    });
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
    if (typing(event.target)) return;
    switch (event.key) {
      case "PageDown": case "ArrowRight": go(+1); break;
      case "PageUp": case "ArrowLeft": go(-1); break;
      case "f": case "F": toggleFullscreen(window.parent.document); break;
      case "Escape": {
        const frame = viewerFrame(window.parent.document);
        if (frame && frame.classList.contains("equiv-fullscreen")) setFullscreen(window.parent.document, frame, false);
        return;
      }
      default: return;
    }
    event.preventDefault();
  }

  // Listen on the app's document and on every same-origin iframe's document (a click into the 3D
  // viewer moves the focus into its iframe; the clicker must still work). A new presenter iframe
  // removes the previous one's listeners first.
  function install() {
    let host;
    try { host = window.parent; void host.document; } catch (e) { return; } // not same origin: no keys
    const docs = [];
    function listen(doc) {
      if (!doc || docs.indexOf(doc) >= 0) return;
      doc.addEventListener("keydown", onKey, true);
      docs.push(doc);
    }
    function scan() {
      listen(host.document);
      host.document.querySelectorAll("iframe").forEach(function (f) {
        try { if (f.contentWindow !== window) listen(f.contentDocument); } catch (e) { /* other origin */ }
      });
    }
    function uninstall() {
      docs.forEach(function (d) { try { d.removeEventListener("keydown", onKey, true); } catch (e) { /* gone */ } });
      docs.length = 0;
    }
    if (host.__equivPresenterUninstall) host.__equivPresenterUninstall();
    host.__equivPresenterUninstall = uninstall;
    scan();
    setInterval(scan, 1000);
    document.addEventListener("keydown", onKey, true); // focus inside this iframe
    window.addEventListener("pagehide", function () {
      uninstall();
      if (host.__equivPresenterUninstall === uninstall) host.__equivPresenterUninstall = null;
    });
    document.body.dataset.installed = "1";
  }

  window.addEventListener("message", function (event) {
    const data = event.data;
    if (!data || data.type !== "streamlit:render") return;
    rendered = true;
    const args = data.args || {};
    state.step = Number(args.step) || 1;
    state.n = Number(args.n_steps) || 1;
    document.getElementById("hint").textContent = args.hint || "";
    document.body.dataset.step = String(state.step);
    send("streamlit:setFrameHeight", { height: args.hint ? 20 : 0 });
  });
  install();
  announceReady();
})();
