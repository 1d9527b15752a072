// cnnkit explore: the page. Every number comes from the server (the library's functions);
// this script only asks, decodes and draws. No libraries, no network beyond this server.
//
// URL parameters script a visit (the tests and the screenshots in docs/explore.md use them):
//   ?input=I&layer=NAME&channel=C&method=gradcam&maximize=1&focus=PANEL_ID
// When everything asked for is shown, <body data-state="ready"> (or "error").
"use strict";

const S = { net: null, inputs: [], input: 0, layer: null, channel: null, maps: null, prediction: null };
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};
const fmt = (n) => n === null || n === undefined ? "" : Number(n).toLocaleString("en-US");
const compact = (n) => n >= 1e9 ? (n / 1e9).toFixed(2) + " G" : n >= 1e6 ? (n / 1e6).toFixed(2) + " M" : n >= 1e3 ? (n / 1e3).toFixed(1) + " k" : String(n);
const shape = (s) => s ? s.slice(1).join("x") : "";

async function api(what, params = {}, init = undefined) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined)).toString();
  const r = await fetch(`/api/${what}${q ? "?" + q : ""}`, init);
  let body;
  try { body = await r.json(); } catch (e) { throw new Error(`the server sent no answer to /api/${what} (${r.status})`); }
  if (!r.ok) throw new Error(body.error || `error ${r.status}`);
  return body;
}

function showError(e) {
  const box = $("error");
  box.textContent = "error: " + (e && e.message ? e.message : e);
  box.hidden = false;
}
function clearError() { $("error").hidden = true; }

// ---- tensors and colours -------------------------------------------------------------
function decode(t) {  // {shape, f32: base64} -> {shape, data: Float32Array}
  const bin = atob(t.f32);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return { shape: t.shape, data: new Float32Array(bytes.buffer) };
}
function ramp(stops) {  // [[r,g,b], ...] evenly spaced -> t in [0,1] -> [r,g,b]
  return (t) => {
    t = Math.min(1, Math.max(0, t)) * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(t)), f = t - i;
    return stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
  };
}
// matplotlib's viridis and inferno, RdBu_r (blue -, white 0, red +), sampled at 9 / 7 points
const VIRIDIS = ramp([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]]);
const INFERNO = ramp([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164]]);
const RDBU = ramp([[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247], [253, 219, 199], [239, 138, 98], [178, 24, 43]]);

// Draw an h x w block of `data` starting at `offset` on a canvas; lo..hi maps onto the colour map.
function paint(canvas, data, offset, h, w, lo, hi, cmap) {
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
  const span = hi - lo || 1;
  for (let i = 0; i < h * w; i++) {
    const [r, g, b] = cmap((data[offset + i] - lo) / span);
    img.data.set([r, g, b, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}
function range(data, offset, n) {
  let lo = Infinity, hi = -Infinity, sum = 0;
  for (let i = offset; i < offset + n; i++) { const v = data[i]; if (v < lo) lo = v; if (v > hi) hi = v; sum += v; }
  return { lo, hi, sum };
}

// ---- the network column ----------------------------------------------------------------
function renderNetwork() {
  const n = S.net, s = n.summary;
  $("model").textContent = `${n.model} (${n.task}${n.trained ? "" : ", untrained"})`;
  document.title = `cnnkit explore: ${n.model}`;
  const totals = $("totals");
  totals.replaceChildren(
    el("span", { id: "total-params" }, el("b", { text: "parameters" }), fmt(s.total_params)),
    el("span", { id: "total-trainable" }, el("b", { text: "trainable" }), fmt(s.trainable_params)),
    el("span", { id: "total-macs" }, el("b", { text: "MACs per image" }), fmt(s.total_macs)),
    el("span", {}, el("b", { text: "input" }), s.input_shape.join("x")),
    el("span", {}, el("b", { text: "output" }), s.output_shape.join("x")));
  $("notes").replaceChildren(...n.notes.concat(s.notes).map((t) => el("li", { text: t })));
  $("input-row").replaceChildren(el("span", { class: "name", text: "input " }), el("span", { class: "nums", text: s.input_shape.join("x") }));
  const list = $("layers");
  list.replaceChildren();
  for (const row of n.layers) {
    const rf = row.receptive_field ? row.receptive_field.join("x") : "";
    const li = el("li", { class: `layer ${row.kind}`, "data-layer": row.name, tabindex: "0",
                          title: `${row.type}: ${fmt(row.params)} parameters, ${fmt(row.macs)} MACs` },
      el("div", {}, el("span", { class: "name", text: row.name }), " ", el("span", { class: "type", text: row.type })),
      el("div", { class: "nums", text: `out ${shape(row.output_shape)} · ${compact(row.params)} params · ${compact(row.macs)} MACs${rf ? " · RF " + rf : ""}` }));
    li.addEventListener("click", () => selectLayer(row.name).catch(showError));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") selectLayer(row.name).catch(showError); });
    list.append(li);
  }
  const methods = $("method");
  methods.replaceChildren(...n.attribution_methods.map((m) => el("option", { value: m, text: m })));
  $("attribution-panel").hidden = n.attribution_methods.length === 0;
  $("target").replaceChildren(el("option", { value: "", text: "the predicted class" }),
    ...n.class_names.map((c, i) => el("option", { value: String(i), text: `${i} ${c}` })));
}

// ---- inputs and the prediction --------------------------------------------------------
function renderInputs() {
  const box = $("inputs");
  box.replaceChildren(...S.inputs.map((inp) => {
    const f = el("figure", { "data-input": inp.index, title: inp.notes.join("; ") || inp.name },
      el("img", { src: inp.image, alt: inp.name }), el("figcaption", { text: inp.class_name || inp.name }));
    f.classList.toggle("selected", inp.index === S.input);
    f.addEventListener("click", () => selectInput(inp.index).catch(showError));
    return f;
  }));
  if (!S.inputs.length) box.append(el("p", { class: "scale", text: "no input yet: drop an image below" }));
}

async function selectInput(i) {
  S.input = i;
  renderInputs();
  if (!S.inputs.length) return;
  clearError();
  const p = await api("predict", { input: i });
  S.prediction = p;
  renderPrediction(p);
  const jobs = [];
  if (S.net.attribution_methods.length) jobs.push(showAttribution());
  if (S.layer) jobs.push(selectLayer(S.layer, S.channel));
  await Promise.all(jobs);
}

function renderPrediction(p) {
  const box = $("prediction");
  const notes = p.notes.length ? el("p", { class: "scale", text: p.notes.join("; ") }) : "";
  const truth = p.class_name ? ` (true class: ${p.class_name})` : "";
  if (p.task !== "segmentation") {
    const bars = el("div", { class: "bars", id: "probabilities" });
    for (const t of p.top.slice(0, 12)) {
      bars.append(el("span", { text: `${t.index} ${t.class}` }),
        el("div", {}, el("div", { class: "bar" + (t.index === p.predicted ? " top" : ""), style: `width:${(100 * t.probability).toFixed(1)}%` })),
        el("span", { class: "prob", "data-class": t.index, text: t.probability.toFixed(3) }));
    }
    const more = p.top.length > 12 ? el("p", { class: "scale", text: `${p.top.length - 12} less likely classes not shown` }) : "";
    box.replaceChildren(el("div", { class: "row" }, el("img", { class: "big", src: p.image, alt: p.name }),
      el("div", {}, el("p", { id: "predicted", text: `predicted: ${p.predicted_name}${truth}` }), bars, more)), notes);
    return;
  }
  // segmentation: image, predicted mask, overlay, true mask, per-class Dice
  const mask = decode(p.mask), [h, w] = mask.shape, names = Object.keys(p.palette).filter((k) => k in p.class_fractions);
  const colours = names.map((n) => hex(p.palette[n]));
  const paintMask = (m) => { const c = el("canvas", { class: "big" }); c.width = w; c.height = h;
    const ctx = c.getContext("2d"), img = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) { const col = colours[m.data[i]] || [128, 128, 128]; img.data.set([...col, 255], 4 * i); }
    ctx.putImageData(img, 0, 0); return c; };
  const overlay = el("canvas", { class: "big" }); overlay.width = w; overlay.height = h;
  const base = new Image();
  base.onload = () => { const ctx = overlay.getContext("2d"); ctx.drawImage(base, 0, 0, w, h); ctx.globalAlpha = 0.45; ctx.drawImage(paintMask(mask), 0, 0); };
  base.src = p.image;
  const figs = [el("figure", {}, el("img", { class: "big", src: p.image }), el("figcaption", { text: "input" })),
    el("figure", {}, paintMask(mask), el("figcaption", { text: "predicted mask" })),
    el("figure", {}, overlay, el("figcaption", { text: "over the input" }))];
  if (p.truth) figs.push(el("figure", {}, paintMask(decode(p.truth)), el("figcaption", { text: "true mask" })));
  const table = el("table", { class: "dice", id: "dice" }, el("tr", {}, el("th", { text: "class" }), el("th", { text: "pixels predicted" }),
    el("th", { text: p.dice_per_class ? "Dice" : "" })));
  names.forEach((n, i) => table.append(el("tr", {}, el("td", {}, el("span", { class: "swatch", style: `background:${p.palette[n]}` }), `${i} ${n}`),
    el("td", { text: (100 * p.class_fractions[n]).toFixed(1) + "%" }),
    el("td", { text: p.dice_per_class ? (p.dice_per_class[n] === null ? "absent" : p.dice_per_class[n].toFixed(3)) : "" }))));
  const score = p.dice !== null && p.dice !== undefined
    ? el("p", { text: `Dice ${p.dice.toFixed(3)} (mean over the classes present), pixel accuracy ${p.pixel_accuracy.toFixed(3)}` })
    : el("p", { class: "scale", text: "no true mask for this image: no Dice" });
  box.replaceChildren(el("div", { class: "row" }, ...figs), score, table, notes);
}
const hex = (h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16));

// ---- a layer ----------------------------------------------------------------------------
async function selectLayer(name, channel = null) {
  S.layer = name; S.channel = channel;
  for (const li of document.querySelectorAll("#layers .layer")) li.classList.toggle("selected", li.dataset.layer === name);
  const r = await api("layer", { name, input: S.inputs.length ? S.input : null });
  renderLayer(r);
  const jobs = r.arith && r.arith.drawn ? [showDrawing(name, r.arith)] : [];
  if (channel !== null && r.maps) jobs.push(selectChannel(channel));
  else $("channel-panel").hidden = true;
  await Promise.all(jobs);
}

async function showDrawing(name, a) {  // asked after the maps are shown: it takes longest, and is the same for every input
  const d = await api("drawing", { name });
  const box = $("drawing-box");
  if (!box || S.layer !== name) return;
  if (!d.gif) { box.textContent = d.notes.join("; "); return; }
  box.replaceChildren(el("figure", {}, el("img", { id: "drawing", src: d.gif, alt: "the arithmetic, step by step" }),
    el("figcaption", { class: "scale", text: `drawn on a ${d.input_size.join("x")} input with this layer's kernel, stride, padding and dilation ` +
      `(the layer's own ${a.input_size.join("x")} is in the formula above); the same drawing: ${d.command}` })));
}

function renderLayer(r) {
  const row = r.row;
  $("layer-panel").hidden = false;
  $("layer-title").textContent = `${row.name}: ${row.type}`;
  $("layer-title").dataset.layer = row.name;
  $("layer-facts").replaceChildren(el("p", { class: "nums", text:
    `input ${shape(row.input_shape)} → output ${shape(row.output_shape)} · ${fmt(row.params)} parameters · ${fmt(row.macs)} MACs per image` +
    (row.receptive_field ? ` · receptive field ${row.receptive_field.join("x")} input pixels` : "") +
    (row.textbook_receptive_field && row.receptive_field && row.textbook_receptive_field.join("x") !== row.receptive_field.join("x")
      ? ` (${row.textbook_receptive_field.join("x")} by the textbook formula, which does not stop at the image's edge)` : "") }));
  // arithmetic
  const a = r.arith, box = $("arith");
  box.replaceChildren();
  if (a) {
    box.append(el("h3", { text: "Arithmetic" }));
    if (a.pytorch) box.append(el("pre", { id: "pytorch", text: a.pytorch }));
    box.append(el("pre", { id: "formula", text: a.formula.join("\n") }));
    for (const note of a.notes || []) box.append(el("p", { class: "scale", text: note }));
    if (a.drawn) box.append(el("div", { id: "drawing-box", class: "scale", text: "drawing the arithmetic ..." }));
  }
  // feature maps: one canvas per channel, each on its own scale, as `cnnkit visualize features`
  const maps = $("maps");
  maps.replaceChildren();
  S.maps = null;
  if (r.maps) {
    const m = decode(r.maps), [c, h, w] = m.shape, shown = Math.min(c, 256);
    S.maps = m;
    $("maps-title").textContent = `Feature maps for input ${S.inputs[r.maps.input].name}: ${c} channels of ${h}x${w}` +
      (shown < c ? ` (first ${shown} shown)` : "") + " · each on its own colour scale · click one";
    for (let k = 0; k < shown; k++) {
      const { lo, hi, sum } = range(m.data, k * h * w, h * w);
      const cv = el("canvas", { class: "fmap", "data-channel": k, "data-sum": sum.toPrecision(9), "data-min": lo, "data-max": hi });
      paint(cv, m.data, k * h * w, h, w, lo, hi, VIRIDIS);
      const f = el("figure", { "data-channel": k, title: `channel ${k}: ${lo.toPrecision(3)} .. ${hi.toPrecision(3)}` },
        cv, el("figcaption", { text: `[${k}] ${lo.toPrecision(2)}..${hi.toPrecision(2)}` }));
      f.addEventListener("click", () => selectChannel(k).catch(showError));
      maps.append(f);
    }
  } else {
    $("maps-title").textContent = r.row.output_shape && r.row.output_shape.length === 4 ? "Feature maps: drop or pick an input first" : "";
  }
  // filters (conv): one symmetric scale for the layer, as `cnnkit visualize filters`
  const fbox = $("filters");
  fbox.replaceChildren();
  fbox.className = "grid filters";
  $("filters-title").textContent = "";
  if (r.filters) renderFilters(r.filters, fbox);
}

function renderFilters(t, box) {
  const f = decode(t), [o, c, kh, kw] = f.shape, n = kh * kw, dead = new Set(t.dead);
  let limit = 0;
  for (const v of f.data) limit = Math.max(limit, Math.abs(v));
  limit = limit || 1e-12;
  if (c === 3) {  // colour filters: 0.5 grey = 0, as the filters figure
    $("filters-title").textContent = `Filters: ${o} of ${c}x${kh}x${kw} (RGB, grey = 0, one scale ±${limit.toPrecision(3)})`;
    for (let i = 0; i < o; i++) {
      const cv = el("canvas", { class: "filter", "data-filter": i }); cv.width = kw; cv.height = kh;
      const ctx = cv.getContext("2d"), img = ctx.createImageData(kw, kh);
      for (let p = 0; p < n; p++) {
        const px = [0, 1, 2].map((ch) => Math.round(255 * Math.min(1, Math.max(0, f.data[(i * c + ch) * n + p] / limit * 0.5 + 0.5))));
        img.data.set([...px, 255], 4 * p);
      }
      ctx.putImageData(img, 0, 0);
      box.append(el("figure", { title: `filter ${i}${dead.has(i) ? " (dead: all weights near 0)" : ""}` }, cv, el("figcaption", { text: `${i}${dead.has(i) ? " dead" : ""}` })));
    }
    return;
  }
  const rows = Math.min(o, 32), cols = Math.min(c, 8);
  $("filters-title").textContent = `Filters: ${rows} of ${o}, input channels ${cols} of ${c}, each ${kh}x${kw} (blue −, red +, one scale ±${limit.toPrecision(3)})`;
  box.className = "filters";
  for (let i = 0; i < rows; i++) {
    const line = el("div", { class: "filter-row" }, el("span", { text: `${i}${dead.has(i) ? " dead" : ""}` }));
    for (let j = 0; j < cols; j++) {
      const cv = el("canvas", { class: "filter", "data-filter": i, "data-in": j });
      paint(cv, f.data, (i * c + j) * n, kh, kw, -limit, limit, (v) => RDBU(v));
      line.append(cv);
    }
    box.append(line);
  }
}

// ---- a channel ----------------------------------------------------------------------------
async function selectChannel(k) {
  S.channel = k;
  for (const f of document.querySelectorAll("#maps figure")) f.classList.toggle("selected", Number(f.dataset.channel) === k);
  const r = await api("channel", { layer: S.layer, channel: k, input: S.inputs.length ? S.input : null });
  const panel = $("channel-panel");
  panel.hidden = false;
  $("channel-title").textContent = `${r.layer}, channel ${r.channel}`;
  $("channel-title").dataset.channel = r.channel;
  const cv = $("channel-map");
  if (r.map) {
    const m = decode(r.map), [h, w] = m.shape, { lo, hi } = range(m.data, 0, h * w);
    paint(cv, m.data, 0, h, w, lo, hi, VIRIDIS);
    cv.onmousemove = (e) => {
      const b = cv.getBoundingClientRect(), x = Math.floor((e.clientX - b.left) / b.width * w), y = Math.floor((e.clientY - b.top) / b.height * h);
      if (x >= 0 && y >= 0 && x < w && y < h) $("channel-value").textContent = `row ${y}, column ${x}: ${m.data[y * w + x].toPrecision(4)} (map ${lo.toPrecision(3)} .. ${hi.toPrecision(3)})`;
    };
    $("channel-value").textContent = `${h}x${w}, ${lo.toPrecision(3)} .. ${hi.toPrecision(3)}; point at it for a value`;
  }
  const top = $("channel-top");
  top.replaceChildren(...r.top.map((t) => el("figure", { title: t.file },
    el("img", { src: t.image, alt: t.file }), el("figcaption", { text: `${t.class_name ?? ""} ${t.value.toPrecision(3)}` }))));
  if (!r.top.length) top.append(el("p", { class: "scale", text: "no test images (start with --dataset D)" }));
  else top.append(el("p", { class: "scale", text: `of ${r.pool} test images` }));
  $("maximize").replaceChildren();
}

async function showMaximize() {
  const b = $("maximize-button"), box = $("maximize");
  b.disabled = true; box.classList.add("busy");
  try {
    const r = await api("maximize", { layer: S.layer, channel: S.channel });
    box.replaceChildren(...r.images.map((src, i) => el("figure", {}, el("img", { class: "big", src, alt: "synthetic image" }),
      el("figcaption", { class: "scale", text: `${r.steps} steps of gradient ascent: ${r.scores[i].toPrecision(3)} (a random image: ${r.random_scores[i].toPrecision(3)})` }))));
  } finally { b.disabled = false; box.classList.remove("busy"); }
}

// ---- attribution ----------------------------------------------------------------------------
async function showAttribution() {
  if (!S.inputs.length) return;
  const r = await api("attribution", { input: S.input, method: $("method").value || "gradcam", target: $("target").value });
  const m = decode(r.map), [h, w] = m.shape;
  let peak = 0;
  for (const v of m.data) peak = Math.max(peak, Math.abs(v));
  peak = peak || 1e-12;
  const map = el("canvas", { class: "big", id: "attribution-map" });
  if (r.signed) paint(map, m.data, 0, h, w, -peak, peak, RDBU); else paint(map, m.data, 0, h, w, 0, peak, INFERNO);
  const over = el("canvas", { class: "big" }); over.width = w; over.height = h;
  const abs = r.signed ? m.data.map(Math.abs) : m.data, heat = el("canvas");
  paint(heat, abs, 0, h, w, 0, peak, INFERNO);
  const base = new Image();
  base.onload = () => { const ctx = over.getContext("2d"); ctx.drawImage(base, 0, 0, w, h); ctx.globalAlpha = 0.55; ctx.drawImage(heat, 0, 0); };
  base.src = S.prediction ? S.prediction.image : S.inputs[S.input].image;
  const where = r.layer ? ` on ${r.layer} (${r.map_size.join("x")} map, upsampled)` : "";
  $("attribution").replaceChildren(
    el("p", { id: "attribution-title", text: `${r.method}${where} for class ${r.class_name} (p = ${r.probability.toFixed(2)}; predicted ${r.predicted})` }),
    el("div", { class: "row" }, el("figure", {}, map, el("figcaption", { class: "scale", text: r.signed ? `red +, blue −, ±${peak.toPrecision(3)}` : `0 .. ${peak.toPrecision(3)}` })),
      el("figure", {}, over, el("figcaption", { class: "scale", text: "over the input" }))));
}

// ---- dropping a file ---------------------------------------------------------------------
async function upload(file) {
  clearError();
  const r = await api("upload", { name: file.name }, { method: "POST", body: await file.arrayBuffer() });
  S.inputs = r.inputs;
  await selectInput(S.inputs.length - 1);
}
function wireDrop() {
  const drop = $("drop");
  for (const ev of ["dragenter", "dragover"]) document.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const ev of ["dragleave", "drop"]) document.addEventListener(ev, () => drop.classList.remove("over"));
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) upload(file).catch(showError);
  });
  $("file").addEventListener("change", (e) => { if (e.target.files[0]) upload(e.target.files[0]).catch(showError); });
  $("method").addEventListener("change", () => showAttribution().catch(showError));
  $("target").addEventListener("change", () => showAttribution().catch(showError));
  $("maximize-button").addEventListener("click", () => showMaximize().catch(showError));
}

// ---- start ----------------------------------------------------------------------------------
async function start() {
  wireDrop();
  const [net, inputs] = await Promise.all([api("network"), api("inputs")]);
  S.net = net; S.inputs = inputs.inputs;
  renderNetwork();
  const q = new URLSearchParams(location.search);
  if (q.get("method")) $("method").value = q.get("method");
  if (q.get("target")) $("target").value = q.get("target");
  S.input = Math.min(Number(q.get("input") || 0), Math.max(0, S.inputs.length - 1));
  if (q.get("layer")) { S.layer = q.get("layer"); S.channel = q.get("channel") === null ? null : Number(q.get("channel")); }
  await selectInput(S.input);
  if (S.layer && !S.inputs.length) await selectLayer(S.layer, S.channel);
  if (q.get("maximize") && S.channel !== null) await showMaximize();
  if (q.get("focus")) {  // that panel first (a screenshot shows the top of the page)
    const t = document.getElementById(q.get("focus"));
    if (t) $("work").prepend(t);
  }
}
start().then(() => { document.body.dataset.state = "ready"; },
  (e) => { showError(e); document.body.dataset.state = "error"; });
