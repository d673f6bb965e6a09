// fashiontag web page: upload photos to POST /v1/labels and show each photo's labels.
// Vanilla JS, no dependencies; every string from the server is inserted as text, never as HTML.
"use strict";

const state = { info: { max_images: 16, max_upload_bytes: 10485760, allowed_content_types: [] }, levels: [], pending: 0 };
const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function loadInfo() {
  const pill = $("model-status");
  try {
    const info = await (await fetch("/v1/info")).json();
    state.info = info;
    if (!info.ready) {
      pill.dataset.state = "loading";
      pill.textContent = "Model loading…";
      setTimeout(loadInfo, 1000);
      return;
    }
    pill.dataset.state = "ready";
    const backend = info.model.backend && info.model.backend !== info.model.model ? ` · ${info.model.backend}` : "";
    pill.textContent = `Ready · ${info.model.model || "model"}${backend}`;
    const tax = await (await fetch("/v1/taxonomy")).json();
    state.levels = tax.levels;
    $("taxonomy-info").textContent = `Taxonomy ${tax.name} · levels: ${tax.levels.join(" › ")}` +
      (Object.keys(tax.attributes).length ? ` · attributes: ${Object.keys(tax.attributes).join(", ")}` : "");
  } catch (err) {
    pill.dataset.state = "error";
    pill.textContent = "Service unreachable";
    setTimeout(loadInfo, 3000);
  }
}

function makeCard(file) {
  const card = el("li", "card");
  const media = el("div", "card-media");
  const img = el("img");
  img.src = URL.createObjectURL(file);
  img.alt = `Photo ${file.name}`;
  img.onload = () => URL.revokeObjectURL(img.src);
  img.onerror = () => {
    URL.revokeObjectURL(img.src);
    img.replaceWith(el("span", "no-preview", "No preview"));
  };
  media.append(img);
  const body = el("div", "card-body");
  body.append(el("h2", "card-title", file.name));
  const pending = el("p", "pending");
  pending.append(el("span", "spinner"), el("span", "", "Labelling…"));
  body.append(pending);
  card.append(media, body);
  card.setAttribute("aria-busy", "true");
  return { card, body };
}

function renderHead(name, head) {
  const wrap = el("div", "head");
  wrap.append(el("dt", "", name));
  const dd = el("dd");
  const line = el("div", "head-line");
  const pct = Math.round(head.confidence * 100);
  line.append(el("span", "head-label" + (head.accepted ? "" : " rejected"), head.label ?? "—"),
              el("span", "head-conf", `${pct}%${head.accepted ? "" : " · below threshold"}`));
  const bar = el("div", "bar" + (head.accepted ? "" : " rejected"));
  bar.setAttribute("role", "img");
  bar.setAttribute("aria-label", `${name}: ${head.label} ${pct}% confidence, ${head.accepted ? "accepted" : "not accepted"}`);
  const fill = el("span");
  fill.style.width = `${Math.max(2, pct)}%`;
  bar.append(fill);
  dd.append(line, bar);
  const others = (head.top_k || []).filter((c) => c.id !== head.id);
  if (others.length) {
    const details = el("details", "alternatives");
    details.append(el("summary", "", "Other candidates"));
    const list = el("ul");
    others.forEach((c) => list.append(el("li", "", `${c.label} · ${Math.round(c.confidence * 100)}%`)));
    details.append(list);
    dd.append(details);
  }
  wrap.append(dd);
  return wrap;
}

function showResult(view, result) {
  const { card, body } = view;
  body.querySelector(".pending")?.remove();
  card.removeAttribute("aria-busy");
  const badges = el("div", "badges");
  if (result.error) {
    badges.append(el("span", "badge badge-bad", "Not labelled"));
    body.append(badges, el("p", "card-error", result.error));
    return;
  }
  badges.append(result.needs_review ? el("span", "badge badge-warn", "Needs review") : el("span", "badge badge-ok", "Confident"));
  badges.append(el("span", "badge badge-level", `Level reached: ${result.level_reached ?? "none"}`));
  const heads = el("dl", "heads");
  Object.entries(result.labels).forEach(([name, head]) => heads.append(renderHead(name, head)));
  body.append(badges, heads);
}

function failed(view, reason) {
  showResult(view, { error: reason });
}

async function send(batch) {
  const form = new FormData();
  batch.forEach(({ file }) => form.append("files", file, file.name));
  try {
    const response = await fetch("/v1/labels", { method: "POST", body: form });
    const payload = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
    if (!response.ok) {
      const retry = response.headers.get("Retry-After");
      const reason = payload.detail + (retry ? ` (retry in ${retry} s)` : "");
      batch.forEach(({ view }) => failed(view, reason));
      return { ok: 0, review: 0, errors: batch.length };
    }
    let review = 0, errors = 0;
    payload.results.forEach((result, i) => {
      showResult(batch[i].view, result);
      if (result.error) errors += 1; else if (result.needs_review) review += 1;
    });
    return { ok: batch.length - errors, review, errors };
  } catch (err) {
    batch.forEach(({ view }) => failed(view, "Network error: the service did not answer."));
    return { ok: 0, review: 0, errors: batch.length };
  }
}

async function handleFiles(fileList) {
  const files = Array.from(fileList);
  if (!files.length) return;
  $("clear").hidden = false;
  const { max_images, max_upload_bytes, allowed_content_types } = state.info;
  const queue = [];
  const cards = document.createDocumentFragment();
  let rejected = 0;
  for (const file of files) {
    const view = makeCard(file);
    cards.append(view.card);
    if (file.size > max_upload_bytes) {
      failed(view, `File is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${(max_upload_bytes / 1048576).toFixed(0)} MB.`);
      rejected += 1;
    } else if (file.type && allowed_content_types.length && !allowed_content_types.includes(file.type)) {
      failed(view, `${file.type} is not a supported image type.`);
      rejected += 1;
    } else {
      queue.push({ file, view });
    }
  }
  $("results").prepend(cards);  // newest drop first, in the order the files were picked
  announce(`Labelling ${queue.length} photo${queue.length === 1 ? "" : "s"}…`);
  const batches = [];
  for (let i = 0; i < queue.length; i += max_images) batches.push(queue.slice(i, i + max_images));
  const totals = (await Promise.all(batches.map(send))).reduce(
    (a, b) => ({ ok: a.ok + b.ok, review: a.review + b.review, errors: a.errors + b.errors }),
    { ok: 0, review: 0, errors: rejected });
  announce(`Labelled ${totals.ok} photo${totals.ok === 1 ? "" : "s"}: ${totals.review} need${totals.review === 1 ? "s" : ""} review` +
           (totals.errors ? `, ${totals.errors} could not be labelled.` : "."));
}

function announce(text) {
  $("summary").textContent = text;
}

function setup() {
  const zone = $("dropzone");
  const input = $("file-input");
  // A <button> already opens on Enter and Space, so keyboard users get the picker without extra handlers.
  zone.addEventListener("click", () => input.click());
  input.addEventListener("change", () => { handleFiles(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (event) => { event.preventDefault(); handleFiles(event.dataTransfer.files); });
  // Dropping outside the zone must not navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  $("clear").addEventListener("click", () => {
    $("results").replaceChildren();
    $("clear").hidden = true;
    announce("");
    zone.focus();
  });
  loadInfo();
}

document.addEventListener("DOMContentLoaded", setup);
