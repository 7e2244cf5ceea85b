// atelier's page: plain JavaScript, talks only to this server's HTTP API (see /docs).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  kind: "image", methods: {}, info: null, bundled: Promise.resolve([]),
  inputs: { content: null, style: null, mask: null },  // {file} or {files} or {bundled, url, title}
  job: null, events: null,
};

if (location.search.includes("token=")) {  // the server set a cookie; keep the secret out of the address bar
  history.replaceState(null, "", location.pathname + location.hash);
}

async function api(path, opts = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...opts });
  if (!res.ok) {
    let detail = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (typeof body.detail === "string") detail = body.detail;
      else if (Array.isArray(body.detail)) detail = body.detail.map((d) => d.msg).join("; ");
    } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return res.status === 204 ? null : res.json();
}

function humanize(name) {
  const text = name.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function fmtSeconds(s) {
  if (s == null) return "?";
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

function fmtNumber(x) {
  if (typeof x !== "number") return String(x);
  return Math.abs(x) >= 1000 || (Math.abs(x) < 0.01 && x !== 0) ? x.toExponential(2) : x.toPrecision(3);
}

// ---------------------------------------------------------------- options generated from the configs

function optionField(opt) {
  const wrap = document.createElement("label");
  wrap.className = "field";
  wrap.dataset.option = opt.name;
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = humanize(opt.name);
  let input;
  const def = opt.default;
  if (opt.choices) {
    input = document.createElement("select");
    if (opt.name === "model" && opt.choices.length === 0) {
      const o = document.createElement("option");
      o.value = ""; o.textContent = "no trained models installed";
      input.append(o);
      input.disabled = true;
    }
    for (const c of opt.choices) {
      const o = document.createElement("option");
      o.value = c; o.textContent = c;
      input.append(o);
    }
    if (opt.choices.includes(def)) input.value = def;
  } else if (opt.type === "boolean" && !opt.list) {
    input = document.createElement("input");
    input.type = "checkbox";
    input.checked = Boolean(def);
  } else if ((opt.type === "integer" || opt.type === "number") && !opt.list) {
    input = document.createElement("input");
    input.type = "number";
    input.step = opt.type === "integer" ? "1" : "any";
    if (def != null) input.value = def;
    else input.placeholder = "default";
    if (opt.minimum != null && !opt.zero) input.min = opt.minimum;  // hints for the spinner (form is novalidate)
    if (opt.maximum != null) input.max = opt.maximum;
  } else {
    input = document.createElement("input");
    input.type = "text";
    if (Array.isArray(def)) input.value = def.join(" ");
    else if (def != null) input.value = def;
    if (opt.list) input.placeholder = def == null ? "default (space-separated values)" : "space-separated values";
  }
  input.name = opt.name;
  input.id = `opt-${opt.name}`;
  input.dataset.default = input.type === "checkbox" ? String(input.checked) : input.value;
  const help = document.createElement("small");
  help.className = "help";
  help.textContent = opt.help;
  if (opt.range) {  // from the config's declared range, e.g. "at least 16"
    const r = document.createElement("span");
    r.className = "range";
    r.textContent = ` Range: ${opt.range}.`;
    help.append(r);
  }
  if (opt.paper) {
    const p = document.createElement("span");
    p.className = "paper";
    p.textContent = ` [${opt.paper}]`;
    help.append(p);
  }
  if (input.type === "checkbox") {
    const row = document.createElement("span");
    row.className = "label";
    row.append(input, document.createTextNode(humanize(opt.name)));
    wrap.append(row, help);
  } else {
    wrap.append(label, input, help);
  }
  return wrap;
}

// Which methods each tab offers: a texture from a sample (capability "texture"); photos with every method;
// videos with those that can.
const KIND_OFFERS = {
  image: () => true,
  video: (caps) => caps.video,
  texture: (caps) => caps.texture,
};

function fillMethods() {
  const select = $("#method");
  const before = select.value;
  select.replaceChildren();
  for (const m of Object.values(state.methods)) {
    if (!KIND_OFFERS[state.kind](m.capabilities)) continue;
    const o = document.createElement("option");
    o.value = m.name;
    o.textContent = m.name;
    select.append(o);
  }
  const names = Array.from(select.options, (o) => o.value);
  // The command line's defaults (adain sorts before gatys); a photo or video job keeps the method chosen.
  const preferred = state.kind === "texture" ? "quilting" : "gatys";
  select.value = state.kind !== "texture" && names.includes(before) ? before
    : names.includes(preferred) ? preferred : names[0];
}

function renderOptions() {
  const spec = state.methods[$("#method").value];
  const texture = state.kind === "texture";
  const basic = $("#options"), more = $("#more-options");
  basic.replaceChildren();
  more.replaceChildren();
  for (const opt of spec.options) {
    if (!opt.form || (texture && !opt.texture)) continue;  // a photo's options mean nothing for a texture
    (opt.basic ? basic : more).append(optionField(opt));
  }
  $("#method-summary").textContent = spec.summary;
  const caps = spec.capabilities;
  const needsStyle = caps.needs_style || texture;
  $("#drop-style").hidden = !needsStyle;
  $("#drop-content").hidden = texture;
  // Masks: a hole to fill (methods with "fill"), or optional regions, one per painting (photo jobs only).
  $("#drop-mask").hidden = state.kind !== "image" || !(caps.masks || caps.fill);
  $("#mask-title").textContent = caps.fill ? "Hole" : "Masks";
  $("#mask-help").textContent = caps.fill ? "An image, white where to fill" : "Optional: one per painting, white where it applies";
  $("#mask-file").multiple = !caps.fill;
  // Mixing (Gatys et al. 2017 §3, §5): colours from an image for methods that take paintings; coarse and
  // fine paintings only where the capabilities say scale_mix (photo jobs only).
  $("#mix").hidden = state.kind !== "image" || !caps.needs_style;
  for (const el of document.querySelectorAll(".mix-scale")) el.hidden = !caps.scale_mix;
  for (const el of document.querySelectorAll(".mix-regions")) el.hidden = !caps.style_masks;
  const shown = Array.from(document.querySelectorAll(".drops .drop")).filter((d) => !d.hidden).length;
  $(".drops").style.gridTemplateColumns = `repeat(${shown}, minmax(0, 1fr))`;
  const tileable = $("#texture-options [name=tileable]");
  if (tileable) {
    tileable.disabled = !spec.capabilities.tileable;
    if (tileable.disabled) tileable.checked = false;
  }
}

function textureFields() {
  const side = Math.min(512, state.info.limits.max_size || 512);
  const range = { minimum: 8, maximum: state.info.limits.max_size, range: `between 8 and ${state.info.limits.max_size}` };
  const box = $("#texture-options");
  box.append(
    optionField({ name: "width", type: "integer", default: side, help: "Width of the texture in pixels.", ...range }),
    optionField({ name: "height", type: "integer", default: side, help: "Height of the texture in pixels.", ...range }),
    optionField({ name: "tileable", type: "boolean", default: false,
      help: "Wrap around seamlessly, so the texture tiles a plane (methods that can: " +
        Object.values(state.methods).filter((m) => m.capabilities.tileable).map((m) => m.name).join(", ") + ")." }),
  );
}

function textureOptions() {
  const get = (n) => $(`#texture-options [name=${n}]`);
  return { width: Number(get("width").value), height: Number(get("height").value), tileable: get("tileable").checked };
}

function collectOptions(selector = "#options [name], #more-options [name]") {
  const out = {};
  for (const el of document.querySelectorAll(selector)) {
    const value = el.type === "checkbox" ? String(el.checked) : el.value.trim();
    if (value === el.dataset.default || el.disabled) continue;  // the library's default applies
    out[el.name] = el.type === "checkbox" ? el.checked : value;
  }
  const model = document.querySelector("#options [name=model]");
  if (selector.startsWith("#options") && model && !model.disabled && model.value) out.model = model.value;
  return out;
}

// ---------------------------------------------------------------- inputs: upload, drag and drop, bundled

function showInput(role) {
  const drop = $(`#drop-${role}`);
  const img = drop.querySelector("img");
  const input = state.inputs[role];
  let name = drop.querySelector(".name");
  if (!name) {
    name = document.createElement("span");
    name.className = "name";
    drop.querySelector(".drop-text").after(name);
  }
  if (!input) { img.hidden = true; drop.classList.remove("filled"); name.textContent = ""; return; }
  drop.classList.add("filled");
  const first = input.file || (input.files && input.files[0]);
  if (first && first.type.startsWith("video/")) {
    img.hidden = true;
  } else {
    img.src = first ? URL.createObjectURL(first) : input.url;
    img.hidden = false;
  }
  const files = input.files || (input.file ? [input.file] : []);
  name.textContent = files.length > 1 ? `${files[0].name} + ${files.length - 1} more`
    : files.length ? files[0].name : input.title;
  name.title = input.credit || "";
}

function setupDrop(role) {
  const drop = $(`#drop-${role}`);
  const file = drop.querySelector("input[type=file]");
  drop.addEventListener("click", (e) => { if (!e.target.closest("button")) file.click(); });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); file.click(); } });
  const take = (list) => {
    if (!list.length) return;
    state.inputs[role] = role === "content" ? { file: list[0] } : { files: Array.from(list) };
    showInput(role);
  };
  file.addEventListener("change", () => take(file.files));
  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const ev of ["dragleave", "drop"]) {
    drop.addEventListener(ev, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    take(e.dataTransfer.files);
  });
  const link = drop.querySelector("[data-bundled]");
  if (!link) return;  // the mask drop has no bundled image
  link.addEventListener("click", async () => {
    const id = link.dataset.bundled;
    state.inputs[role] = { bundled: id, url: `/api/bundled/${id}`, title: "" };  // usable at once
    showInput(role);
    const item = (await state.bundled).find((b) => b.id === id);  // then its name and credit
    if (item && state.inputs[role] && state.inputs[role].bundled === id) {
      Object.assign(state.inputs[role], { title: item.name, credit: item.title });
      showInput(role);
    }
  });
}

function setKind(kind) {
  state.kind = kind;
  for (const t of document.querySelectorAll(".tab")) {
    const on = t.dataset.kind === kind;
    t.classList.toggle("active", on);
    t.setAttribute("aria-selected", String(on));
  }
  const video = kind === "video";
  $("#texture-options").hidden = kind !== "texture";
  if (!state.job) {  // the idle hint, until a job is shown
    $("#status").textContent = kind === "texture" ? "Choose a sample image, then press Start."
      : `Choose a ${video ? "video" : "photo"} and a painting, then press Start.`;
  }
  $("#style-title").textContent = kind === "texture" ? "Sample" : "Painting";
  $("#style-file").multiple = kind !== "texture";
  fillMethods();
  renderOptions();
  $("#content-file").accept = video ? "video/*" : "image/*";
  $("#content-title").textContent = video ? "Video" : "Photo";
  $("#drop-content .drop-text span").textContent =
    video ? "Drop a short video here or click to choose" : "Drop an image here or click to choose";
  $("#drop-content [data-bundled]").hidden = video;
  state.inputs.content = null;
  showInput("content");
  $("#video-options").hidden = !video || !state.info.video;
  const unavailable = video && !state.info.video;  // e.g. without the video extra
  const note = $("#video-note");
  note.textContent = unavailable ? state.info.video_reason : "";
  note.hidden = !unavailable;
  $("#start").disabled = unavailable;
  $(".drops").hidden = unavailable;
}

// ---------------------------------------------------------------- a job: start, follow, cancel, show

function showError(message) {
  const el = $("#form-error");
  el.textContent = message || "";
  el.hidden = !message;
}

async function startJob(e) {
  e.preventDefault();
  showError("");
  const method = $("#method").value;
  const spec = state.methods[method];
  const form = new FormData();
  form.append("kind", state.kind);
  form.append("method", method);
  form.append("options", JSON.stringify(collectOptions()));
  form.append("seed", $("#seed").value || "0");
  form.append("metadata", $("#metadata").checked ? "true" : "false");
  if (state.kind === "video") form.append("video_options", JSON.stringify(collectOptions("#video-options [name]")));
  const c = state.inputs.content, s = state.inputs.style;
  const texture = state.kind === "texture";
  if (texture) {
    form.append("texture_options", JSON.stringify(textureOptions()));
  } else {
    if (!c) return showError(`Choose a ${state.kind === "video" ? "video" : "photo"} first.`);
    if (c.file) form.append("content", c.file, c.file.name); else form.append("content_bundled", c.bundled);
  }
  const mixOn = !$("#mix").hidden;
  const coarse = $("#coarse-file").files[0], fine = $("#fine-file").files[0], colour = $("#color-file").files[0];
  const byScale = mixOn && spec.capabilities.scale_mix && (coarse || fine);
  if (byScale) {  // instead of the painting; the server says if one of the two is missing
    if (coarse) form.append("coarse_style", coarse, coarse.name);
    if (fine) form.append("fine_style", fine, fine.name);
  }
  if (mixOn && colour) form.append("color_from", colour, colour.name);
  if (mixOn && spec.capabilities.style_masks) {  // --style-mask: one per painting, over that painting
    for (const f of $("#style-mask-file").files) form.append("style_mask", f, f.name);
  }
  if ((spec.capabilities.needs_style || texture) && !byScale) {
    if (!s) return showError(texture ? "Choose a sample first." : "Choose a painting first.");
    if (s.files) {
      const files = spec.capabilities.multiple_styles && !texture ? s.files : s.files.slice(0, 1);
      for (const f of files) form.append("style", f, f.name);
    } else {
      form.append("style_bundled", s.bundled);
    }
  }
  const m = state.inputs.mask;
  if (!$("#drop-mask").hidden) {
    if (spec.capabilities.fill && !m) return showError("Choose a mask first: white where to fill.");
    if (m) for (const f of (spec.capabilities.fill ? m.files.slice(0, 1) : m.files)) form.append("mask", f, f.name);
  }
  $("#start").disabled = true;
  try {
    const job = await api("/api/jobs", { method: "POST", body: form });
    follow(job);
    if (matchMedia("(max-width: 760px)").matches) $(".stage").scrollIntoView({ behavior: "smooth" });
  } catch (err) {
    showError(err.message);
  } finally {
    $("#start").disabled = false;
  }
}

function follow(job) {
  if (state.events) state.events.close();
  state.job = job;
  resetView(job);
  renderJob(job);
  if (["done", "failed", "cancelled"].includes(job.state)) { showResult(job); return; }
  const es = new EventSource(`/api/jobs/${job.id}/events`);
  state.events = es;
  const mine = () => state.job && state.job.id === job.id;
  es.addEventListener("state", (e) => { if (mine()) renderJob(JSON.parse(e.data)); });
  es.addEventListener("stage", (e) => { if (mine()) renderStage(JSON.parse(e.data)); });
  es.addEventListener("progress", (e) => { if (mine()) renderProgress(JSON.parse(e.data)); });
  es.addEventListener("end", (e) => {
    es.close();
    if (state.events === es) state.events = null;
    const final = JSON.parse(e.data);
    if (mine()) { renderJob(final); showResult(final); }
    loadGallery();
  });
}

function resetView(job) {
  $("#preview").hidden = true;
  $("#compare").hidden = true;
  $("#video-result").hidden = true;
  $("#placeholder").hidden = false;
  $("#placeholder").textContent = "The image appears here as it forms.";
  $("#losses").replaceChildren();
  $("#bar").style.width = "0";
  $("#download").hidden = true;
  $("#sidecar").hidden = true;
  $("#regions").hidden = true;
  $("#stage-title").textContent = `${humanize(job.method)}: ${jobTitle(job)}`;
}

function jobTitle(job) {
  const styles = job.inputs.style_names.join(", ");
  if (job.kind === "texture") return `texture of ${styles}`;
  if (job.kind === "explain") return `explanation of ${styles}`;
  return job.inputs.content_name + (styles ? ` × ${styles}` : "");
}

function renderJob(job) {
  state.job = job;
  const badge = $("#state");
  badge.hidden = false;
  badge.textContent = job.state;
  badge.className = `badge ${job.state}`;
  const active = job.state === "queued" || job.state === "running";
  $("#cancel").hidden = !active;
  $("#progress").hidden = job.state === "queued" && !job.progress.iteration;
  const status = $("#status");
  if (job.state === "queued") status.textContent = "Waiting for the worker…";
  else if (job.state === "running" && !job.progress.iteration) status.textContent = "Starting (loading the network)…";
  else if (job.state === "failed") status.textContent = job.error;
  else if (job.state === "cancelled") status.textContent = "Cancelled.";
  else if (job.state === "done") {
    const t = job.info.timings ? ` in ${fmtSeconds(job.info.timings.total_seconds)}` : "";
    const size = job.info.output_size ? `${job.info.output_size[0]}×${job.info.output_size[1]}` : "";
    status.textContent = `Done${t}: ${size}.`;
    $("#bar").style.width = "100%";
  }
}

function renderStage(st) {
  $("#progress").hidden = false;
  $("#status").textContent = `Stage ${st.index + 1} of ${st.total}: ${st.size[1]}×${st.size[0]} px`;
}

function renderProgress(p) {
  $("#progress").hidden = false;
  $("#bar").style.width = `${Math.round(100 * p.fraction)}%`;
  const eta = p.eta == null ? "" : `, about ${fmtSeconds(p.eta)} left`;
  $("#status").textContent = `${p.stage}: step ${p.iteration} of ${p.total_iterations}${eta}`;
  const dl = $("#losses");
  dl.replaceChildren();
  for (const [k, v] of Object.entries(p.losses)) {
    const row = document.createElement("div");
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = fmtNumber(v);
    row.append(dt, dd);
    dl.append(row);
  }
  if (p.preview) {
    const img = $("#preview");
    img.src = p.preview;
    img.hidden = false;
    $("#placeholder").hidden = true;
  }
}

function showResult(job) {
  $("#cancel").hidden = true;
  if (job.state !== "done" || !job.result) {
    if (job.state !== "running") $("#placeholder").textContent = job.state === "failed" ? "No result." : "No result (cancelled).";
    return;
  }
  const bust = `?v=${encodeURIComponent(job.finished || "")}`;
  $("#placeholder").hidden = true;
  $("#preview").hidden = true;
  if (job.kind === "video") {
    const v = $("#video-result");
    v.src = job.result + bust;
    v.hidden = false;
  } else {
    const after = $("#after");
    after.onload = () => {  // small results are enlarged at most twice, so they stay sharp enough
      $("#compare").style.width = `min(100%, ${Math.max(2 * after.naturalWidth, 320)}px)`;
    };
    after.src = job.result + bust;
    const texture = ["texture", "explain"].includes(job.kind);  // nothing to compare with: no before side
    for (const el of [$("#before-clip"), $("#slider"), $(".tag-before"), $(".tag-after")]) el.hidden = texture;
    if (!texture) $("#before").src = job.inputs.content;
    $("#compare").hidden = false;
    setSplit(texture ? 0 : 50);
  }
  const dl = $("#download");
  dl.href = `${job.result}?download=true`;
  dl.hidden = false;
  dl.textContent = job.kind === "video" ? "Download video" : job.kind === "explain" ? "Download sheet" : "Download PNG";
  $("#sidecar").href = job.sidecar;
  $("#sidecar").hidden = false;
  if (job.regions) {  // --semantic: the regions found, photo and painting side by side
    $("#regions-img").src = job.regions + bust;
    $("#regions").hidden = false;
  }
}

function setSplit(pct) {
  $("#slider").value = pct;
  $("#before-clip").style.clipPath = `inset(0 ${100 - pct}% 0 0)`;
  $("#compare").style.setProperty("--split", `${pct}%`);
}

async function cancelJob() {
  if (!state.job) return;
  try {
    renderJob(await api(`/api/jobs/${state.job.id}/cancel`, { method: "POST" }));
  } catch (err) {
    $("#status").textContent = err.message;
  }
}

// ---------------------------------------------------------------- gallery of past jobs

function settingsLine(job) {
  const o = job.options;
  const parts = [];
  if (o.model) parts.push(o.model);
  if (o.size != null) parts.push(`${o.size} px`);
  for (const [k, v] of Object.entries(o)) {
    if (!["model", "size", "weights"].includes(k)) parts.push(`${k.replace(/_/g, " ")} ${Array.isArray(v) ? v.join(" ") : v}`);
  }
  return parts.length ? parts.join(", ") : "defaults";
}

async function loadGallery() {
  let jobs;
  try { jobs = (await api("/api/jobs")).jobs; } catch (_) { return; }
  const list = $("#gallery-list");
  list.replaceChildren();
  $("#gallery-empty").hidden = jobs.length > 0;
  for (const job of jobs) {
    const li = document.createElement("li");
    li.tabIndex = 0;
    li.dataset.job = job.id;
    li.dataset.state = job.state;
    const thumb = document.createElement("div");
    thumb.className = "thumb";
    if (job.result && job.kind !== "video") {
      const img = document.createElement("img");
      img.loading = "lazy";
      img.src = job.result;
      img.alt = `Result: ${jobTitle(job)}`;
      thumb.append(img);
    } else {
      const s = document.createElement("span");
      s.textContent = job.kind === "video" && job.state === "done" ? "video" : job.state;
      thumb.append(s);
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    const title = document.createElement("strong");
    title.textContent = `${job.method}: ${jobTitle(job)}`;
    const line = document.createElement("span");
    const when = new Date(job.created).toLocaleString();
    const took = job.info.timings ? `, ${fmtSeconds(job.info.timings.total_seconds)}` : "";
    line.textContent = `${settingsLine(job)}, seed ${job.seed} · ${when}${took}`;
    meta.append(title, line);
    if (job.state === "failed" && job.error) {
      const err = document.createElement("span");
      err.className = "card-error";
      err.textContent = job.error;
      meta.append(err);
    }
    li.append(thumb, meta);
    if (["done", "failed", "cancelled"].includes(job.state)) {
      const del = document.createElement("button");
      del.type = "button";
      del.className = "delete";
      del.title = "Delete this job and its files";
      del.setAttribute("aria-label", "Delete");
      del.textContent = "×";
      del.addEventListener("click", async (e) => {
        e.stopPropagation();
        if (!confirm("Delete this result and its files?")) return;
        try { await api(`/api/jobs/${job.id}`, { method: "DELETE" }); } catch (err) { alert(err.message); }
        loadGallery();
      });
      li.append(del);
    }
    const open = () => { follow(job); window.scrollTo({ top: 0, behavior: "smooth" }); };
    li.addEventListener("click", open);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    list.append(li);
  }
}

// ---------------------------------------------------------------- start-up

async function init() {
  // The bundled images' names are read without waiting (the server imports torch for them).
  state.bundled = api("/api/bundled").catch(() => []);
  const [info, methods] = await Promise.all([api("/api/info"), api("/api/methods")]);
  state.info = info;
  const select = $("#method");
  for (const m of methods) state.methods[m.name] = m;
  fillMethods();
  select.addEventListener("change", renderOptions);
  for (const opt of info.video_options) $("#video-options").append(optionField(opt));
  textureFields();
  renderOptions();
  setupDrop("content");
  setupDrop("style");
  setupDrop("mask");
  for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => setKind(t.dataset.kind));
  $("#job-form").addEventListener("submit", startJob);
  $("#cancel").addEventListener("click", cancelJob);
  $("#slider").addEventListener("input", (e) => setSplit(Number(e.target.value)));
  await loadGallery();
  document.body.dataset.ready = "true";  // for the browser test: the form is wired
  const running = document.querySelector("#gallery-list li[data-state=running], #gallery-list li[data-state=queued]");
  if (running) follow(await api(`/api/jobs/${running.dataset.job}`));
}

init().catch((err) => showError(`The page could not start: ${err.message}`));
