// The search page: upload a photo to /v1/search, show the hits; click a
// product to show its stored similar list from /v1/products/{id}/similar.
"use strict";

const $ = (id) => document.getElementById(id);
// Fields shown on a card besides id and score; the rest are essync's own.
const hidden = new Set(["product_id", "image_name", "similar", "similar_pi", "group_id", "group_size"]);

function imageURL(name) {
  return "/images/" + String(name).split("/").map(encodeURIComponent).join("/");
}

function card(id, score, label, source) {
  const el = document.createElement("div");
  el.className = "card";
  el.dataset.id = id;
  const img = document.createElement("img");
  img.alt = id;
  img.loading = "lazy";
  if (source && source.image_name) img.src = imageURL(source.image_name);
  const name = document.createElement("div");
  name.className = "id";
  name.textContent = id;
  const sc = document.createElement("div");
  sc.className = "score";
  sc.textContent = label + " " + Number(score).toFixed(4);
  const dl = document.createElement("dl");
  for (const [k, v] of Object.entries(source || {})) {
    if (hidden.has(k)) continue;
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = typeof v === "object" ? JSON.stringify(v) : String(v);
    dd.title = dd.textContent;
    dl.append(dt, dd);
  }
  el.append(img, name, sc, dl);
  el.addEventListener("click", () => showSimilar(id, el));
  return el;
}

async function answer(res) {
  let body = {};
  try { body = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) throw new Error((body && body.error) || res.status + " " + res.statusText);
  return body;
}

async function search(file) {
  $("status").className = "muted";
  $("status").textContent = "searching…";
  $("query").src = URL.createObjectURL(file);
  $("query").hidden = false;
  $("hint").textContent = file.name;
  const form = new FormData();
  form.append("image", file, file.name);
  try {
    const body = await answer(await fetch("/v1/search?k=12", { method: "POST", body: form }));
    const grid = $("results");
    grid.replaceChildren(...body.hits.map((h) => card(h.product_id, h.similarity, "similarity", h.source)));
    $("results-title").hidden = false;
    $("similar").replaceChildren();
    $("similar-title").hidden = true;
    $("status").textContent = body.hits.length + " products in " + body.took_ms.toFixed(1) + " ms (model " + body.model + ")";
  } catch (e) {
    $("status").className = "bad";
    $("status").textContent = "search failed: " + e.message;
  }
}

async function showSimilar(id, el) {
  document.querySelectorAll(".card.selected").forEach((c) => c.classList.remove("selected"));
  el.classList.add("selected");
  try {
    const body = await answer(await fetch("/v1/products/" + encodeURIComponent(id) + "/similar?k=12"));
    $("similar").replaceChildren(...body.similar.map((s) => card(s.product_id, s.similarity, "similarity", s.source)));
    $("similar-title").textContent = "Similar to " + id + " (precomputed)";
    $("similar-title").hidden = false;
    $("similar-title").scrollIntoView({ behavior: "smooth" });
  } catch (e) {
    $("status").className = "bad";
    $("status").textContent = "similar products of " + id + " failed: " + e.message;
  }
}

async function health() {
  try {
    const res = await fetch("/healthz");
    const body = await res.json();
    $("health").className = body.ok ? "muted" : "bad";
    $("health").textContent = body.ok
      ? "index " + body.index + " · model " + body.model
      : "not ready: " + body.reason;
  } catch (e) {
    $("health").className = "bad";
    $("health").textContent = "the service does not answer";
  }
}

$("file").addEventListener("change", (e) => { if (e.target.files[0]) search(e.target.files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files[0]) search(e.dataTransfer.files[0]);
});
health();
