// equiv's rotation-lab viewer: a Streamlit (components v1) component in plain JavaScript.
//
// Protocol (Streamlit 1.67, frontend ComponentInstance): the iframe posts
// {isStreamlitMessage: true, type: "streamlit:componentReady", apiVersion: 1} to its parent, then
// receives {type: "streamlit:render", args: {...}} messages whenever the Python call's arguments
// change; it sizes itself with "streamlit:setFrameHeight". The iframe lives as long as the
// component's key, so the camera and the WebGL canvas survive reruns.
//
// args: scene (see equiv/views/scene3d.py). Every string from the scene goes in with textContent.
// Render messages are taken only from the parent window (the Streamlit page). 3Dmol.js comes from
// the local copy next to this file; only when it is missing from the fixed CDN URL below, checked
// against its Subresource Integrity hash (never a URL taken from a message).
"use strict";

(function () {
  const body = document.body;

  // -- Streamlit protocol ------------------------------------------------------------------
  function send(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data || {}), "*");
  }
  // Say "ready" until the first render message arrives. Streamlit registers its listener for this
  // iframe in an effect after mounting it; a message posted before then would be dropped and the
  // viewer would wait for ever (a guard: the blank viewers seen in loaded e2e runs turned out to be
  // a 404 for this file, see equiv/widgets/registration.py). Another componentReady only makes
  // Streamlit send the arguments again.
  let rendered = false;
  function announceReady(triesLeft) {
    if (rendered) return;
    const left = triesLeft === undefined ? 120 : triesLeft;
    if (left <= 0) return;
    send("streamlit:componentReady", { apiVersion: 1 });
    setTimeout(function () { announceReady(left - 1); }, 1000);
  }
  let lastHeight = -1;
  function fitHeight() {
    const h = Math.ceil(document.getElementById("root").getBoundingClientRect().height) + 4;
    if (h !== lastHeight) {
      lastHeight = h;
      send("streamlit:setFrameHeight", { height: h });
    }
  }

  // -- 3Dmol.js: the local copy, else the CDN ------------------------------------------------
  // The npm package 3dmol's build/3Dmol-min.js of the version in 3DMOL_VERSION (jsDelivr serves that
  // file); the hash is its sha384, checked against the npm copy by tests/test_fuzz.py.
  const CDN_URL = "https://cdn.jsdelivr.net/npm/3dmol@2.5.5/build/3Dmol-min.js";
  const CDN_INTEGRITY = "sha384-OsczYbldvrHgslr9fFp/i4GiLSeuw9l+QIlv99ITw8soOwXcoGeflFMLg+CU/X1d";
  let loading = null;
  function loadScript(src, integrity) {
    return new Promise(function (resolve, reject) {
      const s = document.createElement("script");
      if (integrity) {
        s.integrity = integrity;
        s.crossOrigin = "anonymous";
      }
      s.src = src;
      s.onload = function () { resolve(s.src); };
      s.onerror = function () { s.remove(); reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }
  function load3Dmol() {
    if (!loading) {
      loading = loadScript("3Dmol-min.js")
        .then(function (url) { return { source: "local", url: url }; })
        .catch(function () {
          return loadScript(CDN_URL, CDN_INTEGRITY).then(function (url) { return { source: "cdn", url: url }; });
        })
        .then(function (info) {
          body.dataset.threedmol = info.source;
          body.dataset.threedmolUrl = info.url;
          return info;
        });
    }
    return loading;
  }

  // -- drawing ---------------------------------------------------------------------------------
  const ATOM_STYLE = { stick: { radius: 0.11, colorscheme: "Jmol" }, sphere: { scale: 0.24, colorscheme: "Jmol" } };
  const MIN_ARROW = 0.02; // Å: shorter arrows are not drawn
  const state = { scene: null, viewers: [], layout: "", key: null, frame: -1, raf: 0, paused: false, t0: 0, neighbours: [] };
  window.equivViewer = state; // for tests and curious presenters

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function buildGrid(scene) {
    const stage = document.getElementById("stage");
    stage.style.height = scene.height + "px";
    const old = document.getElementById("viewport");
    const viewport = el("div");
    viewport.id = "viewport";
    stage.replaceChild(viewport, old);
    const n = scene.panels.length;
    const grid = $3Dmol.createViewerGrid(viewport, { rows: 1, cols: n, control_all: true },
      { backgroundColor: "white", antialias: true, lowerZoomLimit: 2, upperZoomLimit: 200 });
    state.viewers = grid[0];
    state.layout = scene.panels.map(function (p) { return p.id; }).join(",") + "|" + scene.height;
  }

  function heads(scene) {
    const h = document.getElementById("heads");
    const cells = document.getElementById("cells");
    h.replaceChildren();
    cells.replaceChildren();
    scene.panels.forEach(function (p) {
      const d = el("div", "head");
      d.appendChild(el("div", "title", p.title));
      d.appendChild(el("div", "subtitle", p.subtitle));
      if (p.scale_text) d.appendChild(el("div", "scale", p.scale_text));
      h.appendChild(d);
      const c = el("div", "cell");
      if (p.note) c.appendChild(el("div", "note", p.note));
      cells.appendChild(c);
    });
    const legend = document.getElementById("legend");
    legend.replaceChildren();
    scene.legend.forEach(function (item) {
      const k = el("span", "key");
      const sw = el("span", "swatch " + item.style);
      sw.style.background = item.color;
      k.appendChild(sw);
      k.appendChild(el("span", "", item.text));
      legend.appendChild(k);
    });
    document.getElementById("transform").textContent = scene.transform;
    const pause = document.getElementById("pause");
    pause.hidden = scene.frames.length < 2;
  }

  function neighbourLists(scene) {
    const nb = scene.elements.map(function () { return []; });
    scene.bonds.forEach(function (b) { nb[b[0]].push(b[1]); nb[b[1]].push(b[0]); });
    return nb;
  }

  function arrow(a, spec) {
    const dx = a[3] - a[0], dy = a[4] - a[1], dz = a[5] - a[2];
    if (Math.sqrt(dx * dx + dy * dy + dz * dz) < MIN_ARROW) return null;
    return Object.assign({ start: { x: a[0], y: a[1], z: a[2] }, end: { x: a[3], y: a[4], z: a[5] } }, spec);
  }

  function drawFrame(k) {
    const scene = state.scene;
    const frame = scene.frames[k];
    const rotated = { radius: 0.07, radiusRatio: 2.3, mid: 0.7, color: scene.colors.rotated };
    const expected = { radius: 0.17, radiusRatio: 1.6, mid: 0.7, color: scene.colors.expected, opacity: 0.55 };
    scene.panels.forEach(function (p, i) {
      const v = state.viewers[i];
      v.removeAllModels();
      v.removeAllShapes();
      const atoms = scene.elements.map(function (elem, j) {
        const r = frame.positions[j];
        return { elem: elem, x: r[0], y: r[1], z: r[2], index: j, serial: j, bonds: state.neighbours[j].slice(),
                 bondOrder: state.neighbours[j].map(function () { return 1; }) };
      });
      const m = v.addModel();
      m.addAtoms(atoms);
      m.setStyle({}, ATOM_STYLE);
      const pf = frame.panels[p.id];
      if (!pf) return;
      pf.overlay.forEach(function (a) { const s = arrow(a, expected); if (s) v.addArrow(s); });
      pf.arrows.forEach(function (a) { const s = arrow(a, rotated); if (s) v.addArrow(s); });
    });
    stats(scene, frame);
    state.frame = k;
    body.dataset.frame = String(k);
  }

  function stats(scene, frame) {
    const s = document.getElementById("stats");
    s.replaceChildren();
    scene.panels.forEach(function (p) {
      const d = el("div", "stat");
      const pf = frame.panels[p.id];
      if (pf && pf.verdict) d.appendChild(el("span", "verdict " + pf.verdict.replace(/ /g, "-"), pf.verdict));
      (pf ? pf.stats : []).forEach(function (line) { d.appendChild(el("div", "line", line)); });
      s.appendChild(d);
    });
  }

  function renderAll() {
    state.viewers.forEach(function (v) { v.render(); });
  }

  function fitCamera() {
    const first = state.viewers[0];
    first.zoomTo();
    // zoomTo fits the height; narrow cells (many panels) need more room sideways, and a turning
    // molecule needs room in every direction.
    const box = document.getElementById("stage").getBoundingClientRect();
    const aspect = box.width / Math.max(state.viewers.length, 1) / Math.max(box.height, 1);
    first.zoom(Math.min(0.9, 1.1 * aspect));
    const view = first.getView();
    state.viewers.forEach(function (v, i) { if (i > 0) v.setView(view, true); });
  }

  function stopAnimation() {
    if (state.raf) cancelAnimationFrame(state.raf);
    state.raf = 0;
  }

  function startAnimation(startFrame) {
    const scene = state.scene;
    const n = scene.frames.length;
    const period = Math.max(scene.seconds_per_turn, 0.5) * 1000;
    state.t0 = performance.now() - (startFrame / n) * period;
    function tick(now) {
      // A frame's timestamp can be a little earlier than the performance.now() that set t0: clamp
      // it, or the first tick asks for frame −1.
      const elapsed = Math.max(now - state.t0, 0);
      const k = Math.floor(((elapsed % period) / period) * n) % n;
      if (k !== state.frame) {
        drawFrame(k);
        renderAll();
      }
      state.raf = requestAnimationFrame(tick);
    }
    state.raf = requestAnimationFrame(tick);
  }

  function togglePause() {
    const btn = document.getElementById("pause");
    if (state.raf) {
      stopAnimation();
      state.paused = true;
      btn.textContent = "Play";
    } else {
      state.paused = false;
      btn.textContent = "Pause";
      startAnimation(Math.max(state.frame, 0));
    }
  }

  function draw(scene) {
    const layout = scene.panels.map(function (p) { return p.id; }).join(",") + "|" + scene.height;
    // Same molecule: keep the camera, even when the panels change and the grid is rebuilt.
    const keep = state.viewers.length && state.key === scene.key ? state.viewers[0].getView() : null;
    if (layout !== state.layout) buildGrid(scene);
    stopAnimation();
    const wasAnimated = state.scene && state.scene.frames.length > 1;
    if (!wasAnimated) state.paused = false;
    document.getElementById("pause").textContent = state.paused ? "Play" : "Pause";
    state.scene = scene;
    state.neighbours = neighbourLists(scene);
    heads(scene);
    drawFrame(scene.start_frame || 0);
    if (keep) {
      state.viewers.forEach(function (v) { v.setView(keep, true); });
    } else {
      fitCamera();
    }
    state.key = scene.key;
    renderAll();
    if (scene.frames.length > 1 && !state.paused) startAnimation(scene.start_frame || 0);
    body.dataset.renders = String(Number(body.dataset.renders || 0) + 1);
    body.dataset.panels = String(scene.panels.length);
    body.dataset.frames = String(scene.frames.length);
    body.dataset.transform = scene.transform;
    exportControls(scene);
    fitHeight();
  }

  function showError(message) {
    const m = document.getElementById("message");
    m.hidden = false;
    m.textContent = message;
    body.dataset.error = message;
    fitHeight();
  }


  // -- exports for slides (PNG per panel, WebM of the spin) and the full-screen layout ---------------
  // PNG: 3Dmol renders in the browser, viewer.pngURI() is the panel as drawn. WebM: the spin is
  // recorded in the browser (MediaRecorder on a canvas that gets every panel side by side, one frame
  // per step of the turn), so it shows exactly what the viewer shows, needs no server-side renderer
  // and no network; Chromium and Firefox both record WebM.
  function download(href, filename) {
    const a = document.createElement("a");
    a.href = href;
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function slug(text) {
    return String(text || "panel").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "panel";
  }

  // 3Dmol's viewer grid draws every panel into one shared canvas, each in its own column: a panel's
  // PNG is its column of that canvas (at the canvas's pixel size), "all panels" the whole canvas.
  function sharedCanvas() {
    return state.viewers[0].getCanvas();
  }

  function exportPanelPng(i) {
    if (!state.viewers[i]) return Promise.resolve(null);
    renderAll();
    const canvas = sharedCanvas();
    const whole = canvas.toDataURL("image/png"); // read right after drawing: WebGL may clear it later
    const n = state.viewers.length;
    const x0 = Math.round((i * canvas.width) / n);
    const width = Math.round(((i + 1) * canvas.width) / n) - x0;
    const panel = state.scene.panels[i];
    return new Promise(function (resolve, reject) {
      const img = new Image();
      img.onload = function () {
        const out = document.createElement("canvas");
        out.width = width;
        out.height = canvas.height;
        out.getContext("2d").drawImage(img, x0, 0, width, canvas.height, 0, 0, width, canvas.height);
        const uri = out.toDataURL("image/png");
        download(uri, "equiv-" + slug(panel.id) + ".png");
        body.dataset.lastExport = "png:" + panel.id + ":" + width + "x" + canvas.height;
        resolve(uri);
      };
      img.onerror = function () { reject(new Error("could not read the 3D canvas")); };
      img.src = whole;
    });
  }

  function exportAllPng() {
    renderAll();
    const canvas = sharedCanvas();
    download(canvas.toDataURL("image/png"), "equiv-panels.png");
    body.dataset.lastExport = "png:all:" + canvas.width + "x" + canvas.height;
  }

  function panelCanvases() {
    // One canvas for the whole grid (3Dmol 2.x); unique in case a version gives each viewer its own.
    return Array.from(new Set(state.viewers.map(function (v) { return v.getCanvas(); })));
  }

  function recordSpin(fps, every) {
    const scene = state.scene;
    if (!scene || scene.frames.length < 2 || state.recording) return Promise.resolve(null);
    if (typeof MediaRecorder === "undefined") return Promise.reject(new Error("this browser cannot record video"));
    fps = fps || 12;
    every = Math.max(1, Math.floor(every || 1)); // record every n-th frame of the turn (1: all)
    const canvases = panelCanvases();
    // The panels' own pixel size (3Dmol draws at devicePixelRatio): the recording keeps it.
    const w = canvases.reduce(function (s, c) { return s + c.width; }, 0);
    const h = Math.max.apply(null, canvases.map(function (c) { return c.height; }));
    const out = document.createElement("canvas");
    out.width = w - (w % 2);
    out.height = h - (h % 2);
    const ctx = out.getContext("2d");
    const stream = out.captureStream(0);
    const track = stream.getVideoTracks()[0];
    const type = ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm"].find(function (t) { return MediaRecorder.isTypeSupported(t); });
    const recorder = new MediaRecorder(stream, { mimeType: type, videoBitsPerSecond: 4000000 });
    const chunks = [];
    recorder.ondataavailable = function (e) { if (e.data && e.data.size) chunks.push(e.data); };
    const wasRunning = !!state.raf;
    stopAnimation();
    state.recording = true;
    body.dataset.recording = "1";
    const done = new Promise(function (resolve) { recorder.onstop = resolve; });
    recorder.start();
    let k = 0;
    return new Promise(function (resolve) {
      function step() {
        if (k >= scene.frames.length) { resolve(); return; }
        drawFrame(k);
        renderAll();
        ctx.fillStyle = "#ffffff";
        ctx.fillRect(0, 0, out.width, out.height);
        let x = 0;
        canvases.forEach(function (c) { ctx.drawImage(c, x, 0); x += c.width; });
        if (track.requestFrame) track.requestFrame();
        k += every;
        setTimeout(step, 1000 / fps);
      }
      step();
    }).then(function () {
      recorder.stop();
      return done;
    }).then(function () {
      const blob = new Blob(chunks, { type: "video/webm" });
      state.recording = false;
      body.dataset.recording = "0";
      body.dataset.lastExport = "webm:" + blob.size + ":" + out.width + "x" + out.height;
      download(URL.createObjectURL(blob), "equiv-spin.webm");
      if (wasRunning && !state.paused) startAnimation(state.frame);
      return blob;
    });
  }

  function exportControls(scene) {
    let box = document.getElementById("exports");
    if (!box) {
      box = el("span");
      box.id = "exports";
      document.getElementById("controls").appendChild(box);
    }
    box.replaceChildren();
    scene.panels.forEach(function (p, i) {
      const b = el("button", "export", "PNG: " + p.title);
      b.type = "button";
      b.dataset.export = "png";
      b.dataset.panel = p.id;
      b.title = "Download this panel as a PNG image";
      b.addEventListener("click", function () { exportPanelPng(i).catch(function (err) { showError(err.message); }); });
      box.appendChild(b);
    });
    if (scene.panels.length > 1) {
      const all = el("button", "export", "PNG: all panels");
      all.type = "button";
      all.dataset.export = "png-all";
      all.title = "Download every panel side by side as one PNG image";
      all.addEventListener("click", exportAllPng);
      box.appendChild(all);
    }
    if (scene.frames.length > 1) {
      const r = el("button", "export", "Record spin (WebM)");
      r.type = "button";
      r.dataset.export = "webm";
      r.title = "Record one full turn of every panel side by side as a WebM video";
      r.addEventListener("click", function () {
        r.disabled = true;
        recordSpin().catch(function (err) { showError("Recording failed: " + err.message); })
          .then(function () { r.disabled = false; });
      });
      box.appendChild(r);
    }
  }

  // Full screen (the presenter's F key): the iframe covers the window; the stage takes its height.
  function isFullscreen() {
    try { return !!(window.frameElement && window.frameElement.classList.contains("equiv-fullscreen")); }
    catch (e) { return false; }
  }

  function fullscreenLayout() {
    if (!state.scene) return;
    const stage = document.getElementById("stage");
    const on = isFullscreen();
    const other = ["heads", "stats", "footer"].reduce(function (s, id) {
      return s + document.getElementById(id).getBoundingClientRect().height;
    }, 0);
    const h = on ? Math.max(200, window.innerHeight - other - 16) : state.scene.height;
    if (stage.style.height !== h + "px") {
      stage.style.height = h + "px";
      state.viewers.forEach(function (v) { v.resize(); });
      fitCamera(); // the panels' shape changed: fit the molecule again
      renderAll();
    }
    body.dataset.fullscreen = on ? "1" : "0";
  }

  window.equivViewerExports = { png: exportPanelPng, pngAll: exportAllPng, record: recordSpin, fullscreenLayout: fullscreenLayout };
  window.addEventListener("resize", fullscreenLayout);

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || window.parent === window) return; // only the Streamlit page
    const data = event.data;
    if (!data || data.type !== "streamlit:render") return;
    rendered = true;
    const args = data.args || {};
    load3Dmol()
      .then(function () {
        document.getElementById("message").hidden = true;
        draw(args.scene);
      })
      .catch(function (err) { showError("The 3D viewer could not start: " + (err && err.message ? err.message : err)); });
  });
  document.getElementById("pause").addEventListener("click", togglePause);
  window.addEventListener("resize", fitHeight);
  announceReady();
  fitHeight();
})();
