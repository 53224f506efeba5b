// photomend studio: a thin page over the HTTP API. It paints strokes, sends the photo and the
// strokes to /v1/<operation>, follows the job and shows the result. No image processing here:
// the strokes canvas is sent as a PNG layer (its alpha is the mask; its colours the hints).
"use strict";

const $ = (id) => document.getElementById(id);

// What each tab sends. `paint`: null (no strokes), "mask" or "color"; `strokes`: the form part
// the strokes canvas goes into; `required`: strokes must exist; `options`: form fields.
const OPS = {
  remove: {
    button: "Remove", paint: "mask", strokes: "mask", required: true,
    hint: "Paint over what should go, then press Remove.",
    options: [
      { name: "engine", label: "Engine", from: "engines" },
      { name: "hd_strategy", label: "Large photos", values: ["auto", "cra", "crop", "resize", "original"] },
    ],
  },
  restore: {
    button: "Repair", paint: "mask", strokes: "extra_mask", required: false, detect: true,
    hint: "Press Detect to see the defects found; add or erase strokes, then Repair " +
      "(or Repair at once: the detector's finds plus your strokes are filled).",
    options: [
      { name: "detector", label: "Detector", values: ["learned", "classical", "bopbtl"] },
      ...faceOptions(["gfpgan"]),
    ],
  },
  colorize: {
    button: "Colorize", paint: "color", strokes: "hints", required: false,
    hint: "Scribble colours where you know them (pick the colour first), then press Colorize.",
    options: [
      { name: "method", label: "Method", values: ["hints", "auto"] },
      { name: "saturation", label: "Saturation", number: [0, 2, 0.1, 1] },
    ],
  },
  upscale: {
    button: "Upscale", paint: null, strokes: null, required: false,
    hint: "Choose a factor and press Upscale.",
    options: [
      { name: "scale", label: "Factor", values: ["2", "3", "4"] },
      { name: "model", label: "Model", from: "upscalers" },
      ...faceOptions(["gfpgan", "pulse"]),
    ],
  },
};

// The Faces option of Restore and Upscale (GET /v1/faces says which methods are installed;
// the others are listed, greyed out, with the command that installs them) and GFPGAN's
// strength, shown only when a method is chosen.
function faceOptions(methods) {
  return [
    { name: "faces", label: "Faces", from: "faces", only: methods, optional: "off" },
    { name: "face_strength", label: "Face strength", number: [0, 1, 0.1, 1], showIf: ["faces", "gfpgan"] },
  ];
}

const state = {
  op: "remove", available: ["remove"], lists: {},
  image: null,            // {blob, name, width, height}
  history: [], at: -1,    // [{blob, label, width, height}], index of the current entry
  tool: "brush", size: 40, color: "#3a7bd5",
  scale: 1, tx: 0, ty: 0, // view transform: screen = image * scale + t
  undo: [], redo: [], stroke: null, committed: null,
  objects: null,          // {blob, list}: what /v1/objects found in the current image
  job: null, busy: false, token: sessionStorage.getItem("photomend-token") || "",
};

const view = $("viewport"), stage = $("stage");
const imageCanvas = $("image"), beforeCanvas = $("before"), strokesCanvas = $("strokes");
const strokesCtx = strokesCanvas.getContext("2d", { willReadFrequently: true });

// ---------------------------------------------------------------------------------------------
// API

function tokenFromHash() {
  const m = /token=([^&]+)/.exec(location.hash);
  if (m) {
    state.token = decodeURIComponent(m[1]);
    sessionStorage.setItem("photomend-token", state.token);
    history.replaceState(null, "", location.pathname);
  }
}

async function api(method, url, body, { raw = false } = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
    const r = await fetch(url, { method, body, headers });
    if (r.status === 401) {
      const t = prompt("This server needs its API token:");
      if (!t) throw new Error("no API token given");
      state.token = t;
      sessionStorage.setItem("photomend-token", t);
      continue;
    }
    if (r.status === 503 && r.headers.get("Retry-After") && attempt < 2) {
      const wait = Math.min(30, Number(r.headers.get("Retry-After")) || 2);
      say(`Server busy; retrying in ${wait} s…`);
      await sleep(wait * 1000);
      continue;
    }
    if (!r.ok) {
      let msg = `${r.status} ${r.statusText}`;
      try { msg = (await r.json()).message || msg; } catch (_) { /* not JSON */ }
      throw new Error(msg);
    }
    return raw ? r.blob() : r.json();
  }
  throw new Error("the server kept refusing the request");
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

function say(text, error = false) {
  const m = $("message");
  m.textContent = text;
  m.classList.toggle("error", error);
}

// ---------------------------------------------------------------------------------------------
// Tabs and options

async function loadServerInfo() {
  try {
    const health = await api("GET", "/healthz");
    state.available = health.operations;
  } catch (e) { say(`Cannot reach the server: ${e.message}`, true); }
  for (const b of document.querySelectorAll("[role=tab]")) {
    b.hidden = !state.available.includes(b.dataset.op);
  }
  try { state.lists.engines = (await api("GET", "/v1/engines")).map((e) => [e.name, e.default]); }
  catch (e) { state.lists.engines = [["patchmatch", true]]; }
  try {
    state.lists.faces = (await api("GET", "/v1/faces")).map((m) => [
      m.name, false, m.installed ? null
        : `not installed on the server: photomend models fetch ${m.models.join(" ")}`]);
  } catch (e) { state.lists.faces = []; }
  if (state.available.includes("upscale")) {
    try {
      state.lists.upscalers = (await api("GET", "/v1/upscalers"))
        .filter((u) => u.installed_scales.length).map((u) => [u.name, u.default]);
    } catch (e) { state.lists.upscalers = []; }
  }
  selectOp(state.op);
}

function selectOp(op) {
  state.op = op;
  const cfg = OPS[op];
  for (const b of document.querySelectorAll("[role=tab]")) {
    b.setAttribute("aria-selected", String(b.dataset.op === op));
  }
  $("run").textContent = cfg.button;
  $("paint-tools").hidden = !cfg.paint;
  strokesCanvas.hidden = !cfg.paint;
  $("color-label").hidden = cfg.paint !== "color";
  const objects = op === "remove" && state.available.includes("objects");
  for (const id of ["select", "keep", "all-people"]) $(id).hidden = !objects;
  if (!objects && (state.tool === "select" || state.tool === "keep")) setTool("brush");
  stage.classList.toggle("color-strokes", cfg.paint === "color");
  const box = $("options");
  box.replaceChildren();
  if (cfg.detect) {
    const b = document.createElement("button");
    b.id = "detect"; b.textContent = "Detect";
    b.title = "Find the defects; they appear as strokes you can edit";
    b.addEventListener("click", () => run({ detectOnly: true }));
    box.append(b);
  }
  for (const o of cfg.options) {
    const label = document.createElement("label");
    label.textContent = o.label + " ";
    if (o.showIf) label.dataset.showIf = o.showIf.join("=");
    if (o.number) {
      const input = document.createElement("input");
      input.type = "number"; input.name = o.name; input.id = `opt-${o.name}`;
      [input.min, input.max, input.step, input.value] = o.number.map(String);
      label.append(input);
      box.append(label);
      continue;
    }
    const sel = document.createElement("select");
    sel.name = o.name; sel.id = `opt-${o.name}`;
    let values = o.from ? state.lists[o.from] || [] : o.values.map((v, i) => [v, i === 0]);
    if (o.only) values = values.filter(([v]) => o.only.includes(v));
    if (o.optional) sel.append(new Option(o.optional === true ? "default" : o.optional, ""));
    for (const [v, dflt, unavailable] of values) {
      const opt = new Option(v, v, dflt, dflt);
      if (unavailable) { opt.disabled = true; opt.title = unavailable; opt.textContent = `${v} (not installed)`; }
      sel.append(opt);
    }
    sel.addEventListener("change", showDependentOptions);
    label.append(sel);
    box.append(label);
  }
  showDependentOptions();
  box.hidden = !box.children.length;
  clearStrokes(false);
  if (state.image) say(cfg.hint);
  updateButtons();
}

function showDependentOptions() {
  // An option with showIf ("faces=gfpgan") is shown, and sent, only when that choice is made.
  for (const label of $("options").querySelectorAll("label[data-show-if]")) {
    const [name, value] = label.dataset.showIf.split("=");
    const sel = $("options").querySelector(`[name=${name}]`);
    label.hidden = !sel || sel.value !== value;
  }
}

function optionFields() {
  return [...$("options").querySelectorAll("select, input")].filter((el) => !el.closest("label[hidden]"));
}

// ---------------------------------------------------------------------------------------------
// Loading images, history

async function openFile(file) {
  if (!file) return;
  if (!/^image\/(jpeg|png|webp)$/.test(file.type) && !/\.(jpe?g|png|webp)$/i.test(file.name)) {
    say(`${file.name}: the studio opens JPEG, PNG and WebP files`, true);
    return;
  }
  state.history = [];
  state.at = -1;
  state.name = file.name.replace(/\.[^.]+$/, "") || "photo";
  try {
    await pushHistory(file, `Opened ${file.name}`);
  } catch (e) {
    say(`Cannot show ${file.name} here (${e.message}); the server may still read it.`, true);
    return;
  }
  fitView();
  say(OPS[state.op].hint);
}

async function decode(blob) {
  return await createImageBitmap(blob);
}

async function pushHistory(blob, label) {
  const bitmap = await decode(blob);
  state.history = state.history.slice(0, state.at + 1);
  state.history.push({ blob, label, width: bitmap.width, height: bitmap.height });
  state.at = state.history.length - 1;
  showEntry(bitmap);
  renderHistory();
}

async function goTo(index) {
  if (index === state.at || state.busy) return;
  state.at = index;
  showEntry(await decode(state.history[index].blob));
  renderHistory();
}

function showEntry(bitmap) {
  const entry = state.history[state.at];
  const previous = state.history[state.at - 1];
  const sizeChanged = imageCanvas.width !== bitmap.width || imageCanvas.height !== bitmap.height;
  // The image before this step goes under the compare slider (scaled if the size changed).
  if (previous && state.image) {
    beforeCanvas.width = bitmap.width; beforeCanvas.height = bitmap.height;
    beforeCanvas.getContext("2d").drawImage(imageCanvas, 0, 0, bitmap.width, bitmap.height);
  }
  for (const c of [imageCanvas, strokesCanvas]) {
    if (sizeChanged) { c.width = bitmap.width; c.height = bitmap.height; }
  }
  imageCanvas.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  state.image = { blob: entry.blob, width: entry.width, height: entry.height };
  $("compare").disabled = !previous;
  $("compare").value = 0;
  setCompare(0);
  stage.hidden = false;
  $("drop-hint").hidden = true;
  clearStrokes(false);
  if (sizeChanged) fitView(); else applyView();
  updateButtons();
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren(...state.history.map((h, i) => {
    const li = document.createElement("li");
    li.textContent = `${h.label} (${h.width}×${h.height})`;
    li.className = i === state.at ? "current" : "";
    li.addEventListener("click", () => goTo(i));
    return li;
  }));
}

function setCompare(value) {
  const v = Number(value);
  beforeCanvas.hidden = v === 0;
  $("divider").hidden = v === 0;
  beforeCanvas.style.clipPath = `inset(0 ${100 - v}% 0 0)`;
  $("divider").style.left = `${(v / 100) * imageCanvas.width}px`;
  $("divider").style.height = `${imageCanvas.height}px`;
  $("divider").style.borderLeftWidth = `${2 / state.scale}px`;
}

// ---------------------------------------------------------------------------------------------
// View: the canvases stay at image resolution; zoom and pan are a CSS transform.

function applyView() {
  stage.style.transform = `translate(${state.tx}px, ${state.ty}px) scale(${state.scale})`;
  stage.classList.toggle("pixelated", state.scale >= 2);
  $("zoom-value").textContent = `${Math.round(state.scale * 100)}%`;
  $("divider").style.borderLeftWidth = `${2 / state.scale}px`;
  updateCursorSize();
}

function fitView() {
  if (!state.image) return;
  const r = view.getBoundingClientRect();
  const s = Math.min(r.width / state.image.width, r.height / state.image.height) * 0.96;
  state.scale = s;
  state.tx = (r.width - state.image.width * s) / 2;
  state.ty = (r.height - state.image.height * s) / 2;
  applyView();
}

function zoomAt(factor, cx, cy) {
  const s = Math.min(32, Math.max(0.02, state.scale * factor));
  state.tx = cx - (cx - state.tx) * (s / state.scale);
  state.ty = cy - (cy - state.ty) * (s / state.scale);
  state.scale = s;
  applyView();
}

function toImage(e) {
  const r = view.getBoundingClientRect();
  return [(e.clientX - r.left - state.tx) / state.scale, (e.clientY - r.top - state.ty) / state.scale];
}

// For tests and scripts: where image pixel (x, y) is on the screen.
function toClient(x, y) {
  const r = view.getBoundingClientRect();
  return [r.left + state.tx + x * state.scale, r.top + state.ty + y * state.scale];
}

// ---------------------------------------------------------------------------------------------
// Painting, with undo/redo of each stroke's bounding box

function ensureCommitted() {
  const c = state.committed;
  if (!c || c.width !== strokesCanvas.width || c.height !== strokesCanvas.height) {
    state.committed = document.createElement("canvas");
    state.committed.width = strokesCanvas.width;
    state.committed.height = strokesCanvas.height;
    state.committed.getContext("2d").drawImage(strokesCanvas, 0, 0);
  }
}

function beginStroke(e) {
  ensureCommitted();
  const [x, y] = toImage(e);
  const ctx = strokesCtx;
  ctx.globalCompositeOperation = state.tool === "eraser" ? "destination-out" : "source-over";
  ctx.strokeStyle = ctx.fillStyle = OPS[state.op].paint === "color" ? state.color : "#ff2d6f";
  ctx.lineWidth = state.size;
  ctx.lineCap = ctx.lineJoin = "round";
  state.stroke = { x, y, box: [x, y, x, y] };
  dot(x, y);
}

function dot(x, y) {
  strokesCtx.beginPath();
  strokesCtx.arc(x, y, state.size / 2, 0, Math.PI * 2);
  strokesCtx.fill();
  grow(x, y);
}

function grow(x, y) {
  const b = state.stroke.box;
  b[0] = Math.min(b[0], x); b[1] = Math.min(b[1], y); b[2] = Math.max(b[2], x); b[3] = Math.max(b[3], y);
}

function extendStroke(e) {
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  strokesCtx.beginPath();
  strokesCtx.moveTo(state.stroke.x, state.stroke.y);
  for (const ev of events.length ? events : [e]) {
    const [x, y] = toImage(ev);
    strokesCtx.lineTo(x, y);
    state.stroke.x = x; state.stroke.y = y;
    grow(x, y);
  }
  strokesCtx.stroke();
}

function endStroke() {
  const b = state.stroke.box, pad = state.size / 2 + 2;
  const x = Math.max(0, Math.floor(b[0] - pad)), y = Math.max(0, Math.floor(b[1] - pad));
  const w = Math.min(strokesCanvas.width, Math.ceil(b[2] + pad)) - x;
  const h = Math.min(strokesCanvas.height, Math.ceil(b[3] + pad)) - y;
  state.stroke = null;
  state.painted = true;
  if (w <= 0 || h <= 0) return;
  const cctx = state.committed.getContext("2d");
  const before = cctx.getImageData(x, y, w, h), after = strokesCtx.getImageData(x, y, w, h);
  cctx.putImageData(after, x, y);
  pushUndo({ x, y, before, after });
}

function pushUndo(entry) {
  state.undo.push(entry);
  let bytes = state.undo.reduce((n, u) => n + u.before.data.length * 2, 0);
  while (state.undo.length > 1 && (state.undo.length > 100 || bytes > 400e6)) {
    const old = state.undo.shift();
    bytes -= old.before.data.length * 2;
  }
  state.redo = [];
  updateButtons();
}

function undoRedo(from, to, key) {
  const entry = from.pop();
  if (!entry) return;
  ensureCommitted();
  strokesCtx.putImageData(entry[key], entry.x, entry.y);
  state.committed.getContext("2d").putImageData(entry[key], entry.x, entry.y);
  to.push(entry);
  state.painted = true;
  updateButtons();
}

function clearStrokes(undoable = true) {
  if (undoable && hasStrokes()) {
    ensureCommitted();
    const w = strokesCanvas.width, h = strokesCanvas.height;
    const before = strokesCtx.getImageData(0, 0, w, h);
    strokesCtx.clearRect(0, 0, w, h);
    pushUndo({ x: 0, y: 0, before, after: strokesCtx.getImageData(0, 0, w, h) });
  } else {
    strokesCtx.clearRect(0, 0, strokesCanvas.width, strokesCanvas.height);
    state.undo = []; state.redo = [];
  }
  state.committed = null;
  state.painted = false;
  if (!undoable) state.detected = false;
  updateButtons();
}

function hasStrokes() {
  return state.painted;
}

function updateCursorSize() {
  const c = $("cursor"), d = state.size * state.scale;
  c.style.width = c.style.height = `${d}px`;
}

// ---------------------------------------------------------------------------------------------
// Select: the objects the server finds (/v1/objects) go into the mask with a click

async function findObjects() {
  // Once per image: [{label, score, area, layer, selected}], layer a canvas the size of the
  // image, opaque (in the stroke colour) on the instance.
  if (state.objects && state.objects.blob === state.image.blob) return state.objects.list;
  const form = new FormData();
  form.append("image", state.image.blob, "image");
  form.append("classes", "all");
  setBusy(true);
  $("status").textContent = "finding people and objects…";
  try {
    let job = await api("POST", "/v1/objects", form);
    state.job = job.id;
    while (!["done", "failed", "cancelled"].includes(job.state)) {
      await sleep(200);
      job = await api("GET", job.status_url);
    }
    if (job.state !== "done") throw new Error(job.error ? job.error.message : `the job is ${job.state}`);
    const found = await api("GET", `${job.result_url}?output=instances`);
    const list = [];
    for (const inst of found.instances) {
      if (!inst.mask) continue;
      const blob = await api("GET", `${job.result_url}?output=${inst.mask}`, undefined, { raw: true });
      const bitmap = await decode(blob);
      const layer = document.createElement("canvas");
      layer.width = strokesCanvas.width; layer.height = strokesCanvas.height;
      const ctx = layer.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(bitmap, 0, 0, layer.width, layer.height);
      bitmap.close();
      ctx.globalCompositeOperation = "source-in";
      ctx.fillStyle = "#ff2d6f";
      ctx.fillRect(0, 0, layer.width, layer.height);
      list.push({ label: inst.label, score: inst.score, area: inst.area, layer, selected: false });
    }
    state.objects = { blob: state.image.blob, list };
    return list;
  } finally {
    state.job = null;
    setBusy(false);
  }
}

function applyLayer(layer, add) {
  // Add ``layer`` to the strokes (or cut it out of them), as one undo step.
  ensureCommitted();
  const w = strokesCanvas.width, h = strokesCanvas.height;
  const before = strokesCtx.getImageData(0, 0, w, h);
  const mode = add ? "source-over" : "destination-out";
  for (const ctx of [strokesCtx, state.committed.getContext("2d")]) {
    ctx.globalCompositeOperation = mode;
    ctx.drawImage(layer, 0, 0);
    ctx.globalCompositeOperation = "source-over";
  }
  pushUndo({ x: 0, y: 0, before, after: strokesCtx.getImageData(0, 0, w, h) });
  state.painted = true;
  updateButtons();
}

async function selectAt(x, y, keep) {
  // Select: the smallest object under (x, y) goes into the mask, or out if it is in already.
  // Keep: it goes out of the mask.
  const px = Math.floor(x), py = Math.floor(y);
  if (px < 0 || py < 0 || px >= strokesCanvas.width || py >= strokesCanvas.height) return;
  let list;
  try { list = await findObjects(); } catch (e) { say(`Select failed: ${e.message}`, true); return; }
  const hits = list.filter((o) => o.layer.getContext("2d").getImageData(px, py, 1, 1).data[3] > 0);
  if (!hits.length) { say("Nothing found there: paint it with the brush.", true); return; }
  const o = hits.reduce((a, b) => (a.area <= b.area ? a : b));
  const add = keep ? false : !o.selected;
  o.selected = add;
  applyLayer(o.layer, add);
  say(add ? `Added the ${o.label} to the mask; click it again to drop it, then press Remove.`
    : `The ${o.label} stays (not in the mask).`);
}

async function selectAllPeople() {
  if (!state.image || state.busy) return;
  let list;
  try { list = await findObjects(); } catch (e) { say(`All people failed: ${e.message}`, true); return; }
  const people = list.filter((o) => o.label === "person" && !o.selected);
  if (!people.length) { say("No (more) people found; paint them with the brush."); return; }
  const all = document.createElement("canvas");
  all.width = strokesCanvas.width; all.height = strokesCanvas.height;
  for (const o of people) { all.getContext("2d").drawImage(o.layer, 0, 0); o.selected = true; }
  applyLayer(all, true);
  say(`Added ${people.length} ${people.length === 1 ? "person" : "people"}; Keep (K) and a ` +
    "click spares someone, then press Remove.");
}

// ---------------------------------------------------------------------------------------------
// Running an operation as a job

async function canvasBlob(canvas) {
  return await new Promise((ok) => canvas.toBlob(ok, "image/png"));
}

async function run({ detectOnly = false } = {}) {
  if (!state.image || state.busy) return;
  const cfg = OPS[state.op];
  if (cfg.required && !hasStrokes()) { say("Paint over what should go first.", true); return; }
  const method = $("options").querySelector("[name=method]");
  if (state.op === "colorize" && !hasStrokes() && method && method.value === "hints") {
    say("Scribble colours where you know them first, or choose Method: auto (it needs a " +
        "colorization network on the server: photomend models fetch zhang-siggraph17).", true);
    return;
  }
  const form = new FormData();
  form.append("image", state.image.blob, "image");
  if (cfg.strokes && hasStrokes() && !detectOnly) {
    // After Detect, the strokes are the whole mask to fill (the user may have erased finds).
    const part = cfg.detect && state.detected ? "mask" : cfg.strokes;
    form.append(part, await canvasBlob(strokesCanvas), "strokes.png");
  }
  for (const el of optionFields()) {
    if (el.value !== "") form.append(el.name, el.value);
  }
  if (cfg.detect && detectOnly) form.append("detect_only", "true");
  form.append("format", "png");
  setBusy(true);
  try {
    let job = await api("POST", `/v1/${state.op}`, form);
    state.job = job.id;
    while (!["done", "failed", "cancelled"].includes(job.state)) {
      showProgress(job);
      await sleep(200);
      job = await api("GET", job.status_url);
    }
    if (job.state === "cancelled") { say("Cancelled."); return; }
    if (job.state === "failed") throw new Error(job.error ? job.error.message : "the job failed");
    if (detectOnly) {
      const mask = await api("GET", `${job.result_url}?output=mask`, undefined, { raw: true });
      await showDetectedMask(mask);
      state.detected = true;
      say("Defects found are marked; add or erase strokes, then press Repair.");
    } else {
      const result = await api("GET", job.result_url, undefined, { raw: true });
      await pushHistory(result, labelFor(cfg));
      const faces = job.outputs.includes("faces")
        ? facesMessage(await api("GET", `${job.result_url}?output=faces`)) : "";
      say(`${cfg.button}: done.${faces} Slide “Before / after” to compare; download when happy.`);
    }
  } catch (e) {
    say(`${cfg.button} failed: ${e.message}`, true);
  } finally {
    state.job = null;
    setBusy(false);
  }
}

function facesMessage(summary) {
  // What the face step did, from the job's 'faces' output.
  if (!summary.faces) return " No face found: the faces were left as they were.";
  const n = `${summary.faces} face${summary.faces === 1 ? "" : "s"}`;
  if (summary.method === "pulse") {
    const matched = summary.pulse.filter((r) => r.matched).length;
    return ` ${n} replaced by PULSE (${matched} of ${summary.pulse.length} match the photo ` +
      `when downscaled). Note: ${summary.note}.`;
  }
  return ` ${n} restored with GFPGAN.`;
}

function labelFor(cfg) {
  const opts = optionFields().map((s) => s.value).filter(Boolean);
  return opts.length ? `${cfg.button} (${opts.join(", ")})` : cfg.button;
}

async function showDetectedMask(blob) {
  // The server sends the mask as a PNG layer (opaque where a defect is): draw it as strokes.
  const bitmap = await decode(blob);
  clearStrokes(true);
  ensureCommitted();
  const tmp = document.createElement("canvas");
  tmp.width = strokesCanvas.width; tmp.height = strokesCanvas.height;
  const t = tmp.getContext("2d");
  t.drawImage(bitmap, 0, 0, tmp.width, tmp.height);
  t.globalCompositeOperation = "source-in";
  t.fillStyle = "#ff2d6f";
  t.fillRect(0, 0, tmp.width, tmp.height);
  const w = strokesCanvas.width, h = strokesCanvas.height;
  const before = strokesCtx.getImageData(0, 0, w, h);
  strokesCtx.globalCompositeOperation = "source-over";
  strokesCtx.drawImage(tmp, 0, 0);
  state.committed.getContext("2d").drawImage(tmp, 0, 0);
  pushUndo({ x: 0, y: 0, before, after: strokesCtx.getImageData(0, 0, w, h) });
  state.painted = true;
  updateButtons();
}

function showProgress(job) {
  const p = $("progress");
  if (job.progress == null) p.removeAttribute("value"); else p.value = job.progress;
  $("status").textContent = job.state === "queued" ? "waiting for a worker…"
    : job.stage ? `${job.stage} ${job.done}/${job.total}` : "working…";
}

function setBusy(busy) {
  state.busy = busy;
  $("progress").hidden = !busy;
  $("cancel").hidden = !busy;
  if (busy) { $("progress").removeAttribute("value"); $("status").textContent = "uploading…"; }
  else $("status").textContent = "";
  updateButtons();
}

function updateButtons() {
  const ready = !!state.image && !state.busy;
  $("run").disabled = !ready;
  if ($("detect")) $("detect").disabled = !ready;
  $("download").disabled = !state.image;
  $("undo").disabled = !state.undo.length;
  $("redo").disabled = !state.redo.length;
}

function download() {
  if (!state.image) return;
  const a = document.createElement("a");
  const type = state.image.blob.type || "";
  const ext = type.includes("png") ? "png" : type.includes("webp") ? "webp" : type.includes("tiff") ? "tif" : "jpg";
  a.href = URL.createObjectURL(state.image.blob);
  a.download = state.at > 0 ? `${state.name}-photomend.${ext}` : `${state.name}.${ext}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---------------------------------------------------------------------------------------------
// Events

function setTool(tool) {
  state.tool = tool;
  for (const t of ["brush", "eraser", "select", "keep"]) {
    $(t).classList.toggle("active", t === tool);
    $(t).setAttribute("aria-pressed", String(t === tool));
  }
}

function setSize(size) {
  state.size = Math.max(2, Math.min(400, Math.round(size)));
  $("size").value = state.size;
  $("size-value").textContent = state.size;
  updateCursorSize();
}

let pan = null, spaceDown = false;

view.addEventListener("pointerdown", (e) => {
  if (!state.image) return;
  view.focus();
  if (e.button === 1 || e.button === 2 || spaceDown || !OPS[state.op].paint || state.busy) {
    pan = { x: e.clientX, y: e.clientY, tx: state.tx, ty: state.ty };
    view.classList.add("panning");
  } else if (e.button === 0 && (state.tool === "select" || state.tool === "keep")) {
    const [x, y] = toImage(e);
    selectAt(x, y, state.tool === "keep");
    e.preventDefault();
    return;
  } else if (e.button === 0) {
    beginStroke(e);
  } else return;
  view.setPointerCapture(e.pointerId);
  e.preventDefault();
});
view.addEventListener("pointermove", (e) => {
  const c = $("cursor"), r = view.getBoundingClientRect();
  c.hidden = !state.image || !OPS[state.op].paint || state.tool === "select" || state.tool === "keep";
  c.style.left = `${e.clientX - r.left}px`;
  c.style.top = `${e.clientY - r.top}px`;
  if (pan) {
    state.tx = pan.tx + e.clientX - pan.x;
    state.ty = pan.ty + e.clientY - pan.y;
    applyView();
  } else if (state.stroke) extendStroke(e);
});
const release = () => {
  if (pan) { pan = null; view.classList.remove("panning"); }
  if (state.stroke) endStroke();
};
view.addEventListener("pointerup", release);
view.addEventListener("pointercancel", release);
view.addEventListener("pointerleave", () => { $("cursor").hidden = true; });
view.addEventListener("contextmenu", (e) => e.preventDefault());
view.addEventListener("wheel", (e) => {
  if (!state.image) return;
  e.preventDefault();
  const r = view.getBoundingClientRect();
  zoomAt(Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), e.clientX - r.left, e.clientY - r.top);
}, { passive: false });

// Drag and drop, anywhere on the page.
for (const type of ["dragenter", "dragover"]) {
  document.addEventListener(type, (e) => { e.preventDefault(); view.classList.add("drag-over"); });
}
document.addEventListener("dragleave", (e) => {
  if (e.target === document.documentElement || e.target === view) view.classList.remove("drag-over");
});
document.addEventListener("drop", (e) => {
  e.preventDefault();
  view.classList.remove("drag-over");
  const f = e.dataTransfer && e.dataTransfer.files[0];
  if (f) openFile(f);
});

$("file").addEventListener("change", (e) => { openFile(e.target.files[0]); e.target.value = ""; });
$("brush").addEventListener("click", () => setTool("brush"));
$("eraser").addEventListener("click", () => setTool("eraser"));
$("select").addEventListener("click", () => setTool("select"));
$("keep").addEventListener("click", () => setTool("keep"));
$("all-people").addEventListener("click", () => selectAllPeople());
$("size").addEventListener("input", (e) => setSize(Number(e.target.value)));
$("color").addEventListener("input", (e) => { state.color = e.target.value; });
$("undo").addEventListener("click", () => undoRedo(state.undo, state.redo, "before"));
$("redo").addEventListener("click", () => undoRedo(state.redo, state.undo, "after"));
$("clear").addEventListener("click", () => clearStrokes(true));
$("fit").addEventListener("click", fitView);
$("actual").addEventListener("click", () => {
  const r = view.getBoundingClientRect();
  zoomAt(1 / state.scale, r.width / 2, r.height / 2);
});
$("run").addEventListener("click", () => run());
$("cancel").addEventListener("click", async () => {
  if (state.job) { try { await api("DELETE", `/v1/jobs/${state.job}`); } catch (_) { /* gone */ } }
});
$("download").addEventListener("click", download);
$("compare").addEventListener("input", (e) => setCompare(e.target.value));
for (const b of document.querySelectorAll("[role=tab]")) {
  b.addEventListener("click", () => { if (!state.busy) selectOp(b.dataset.op); });
}
document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
  const k = e.key.toLowerCase();
  if ((e.ctrlKey || e.metaKey) && k === "z") {
    e.preventDefault();
    if (e.shiftKey) undoRedo(state.redo, state.undo, "after"); else undoRedo(state.undo, state.redo, "before");
  } else if ((e.ctrlKey || e.metaKey) && k === "y") {
    e.preventDefault(); undoRedo(state.redo, state.undo, "after");
  } else if (k === " ") { spaceDown = true; e.preventDefault(); }
  else if (k === "b") setTool("brush");
  else if (k === "e") setTool("eraser");
  else if (k === "s" && !$("select").hidden) setTool("select");
  else if (k === "k" && !$("keep").hidden) setTool("keep");
  else if (k === "[") setSize(state.size / 1.25);
  else if (k === "]") setSize(state.size * 1.25);
  else if (k === "f") fitView();
  else if (k === "1") $("actual").click();
});
document.addEventListener("keyup", (e) => { if (e.key === " ") spaceDown = false; });
window.addEventListener("resize", () => { if (state.image) applyView(); });

tokenFromHash();
setSize(state.size);
loadServerInfo();
window.photomendStudio = { state, toClient, fitView, selectOp, selectAt };
