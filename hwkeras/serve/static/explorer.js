// The latent explorer: every picture comes from the server's TF Serving REST API
// (/v1/models/NAME/metadata and :predict), the same endpoints any client calls.
"use strict";

const NAME = document.querySelector('meta[name="hwkeras-model"]').content;
const API = "v1/models/" + encodeURIComponent(NAME);
const RANGE = 3;          // sliders and the traversal strip span [-3, 3], as the traverse signature
const STRIP_STEPS = 10;
const state = { p: 0, shape: null, z: [], chosen: 0, hasNu: false };

const $ = (id) => document.getElementById(id);

function say(text) { $("status").textContent = text || ""; }

async function predict(signature, inputs) {
  const response = await fetch(API + ":predict", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ signature_name: signature, inputs: inputs }),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer.outputs;
}

// One float image (H, W, C) in [0, 1] onto a canvas, a canvas pixel per image pixel
// (value v -> floor(v * 255 + 0.5), as hwkeras.viz writes PNGs).
function draw(canvas, image) {
  const h = image.length, w = image[0].length;
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d");
  const data = ctx.createImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const px = image[y][x], i = 4 * (y * w + x);
      for (let k = 0; k < 3; k++) {
        const v = px.length === 1 ? px[0] : px[k];
        data.data[i + k] = Math.floor(Math.min(1, Math.max(0, v)) * 255 + 0.5);
      }
      data.data[i + 3] = 255;
    }
  }
  ctx.putImageData(data, 0, 0);
}

// Requests that follow a moving slider: one in flight, and only the newest waiting after it.
function latest(task) {
  let running = false, queued = null;
  return function run(arg) {
    queued = arg;
    if (running) return;
    running = true;
    const next = queued; queued = null;
    task(next).catch((e) => say(e.message)).finally(() => {
      running = false;
      if (queued !== null) run(queued);
    });
  };
}

const redraw = latest(async (z) => {
  const images = await predict("decode", { z: [z] });
  draw($("decoded"), images[0]);
  $("decoded").dataset.z = JSON.stringify(z);
});

const redrawStrip = latest(async ({ z, latent }) => {
  const rows = [];
  for (let s = 0; s < STRIP_STEPS; s++) {
    const row = z.slice();
    row[latent] = -RANGE + (2 * RANGE * s) / (STRIP_STEPS - 1);
    rows.push(row);
  }
  const images = await predict("decode", { z: rows });
  const strip = $("strip");
  strip.replaceChildren(...images.map((image) => { const c = document.createElement("canvas"); draw(c, image); return c; }));
  strip.dataset.latent = String(latent);
  strip.dataset.z = JSON.stringify(z);
});

function update() {
  document.querySelectorAll(".latent").forEach((row) => {
    const j = Number(row.dataset.latent);
    row.querySelector(".value").textContent = state.z[j].toFixed(2);
    row.classList.toggle("chosen", j === state.chosen);
  });
  $("chosen-name").textContent = "z" + state.chosen;
  redraw(state.z.slice());
  redrawStrip({ z: state.z.slice(), latent: state.chosen });
}

function setCode(code) {
  code.forEach((v, j) => {
    state.z[j] = Math.min(RANGE, Math.max(-RANGE, v));
    document.querySelector(`.latent[data-latent="${j}"] input`).value = state.z[j];
  });
  update();
}

function buildSliders(latents, threshold) {
  const box = $("latents");
  for (const { latent, kl, collapsed } of latents) {
    const row = document.createElement("div");
    row.className = "latent" + (collapsed ? " collapsed" : "");
    row.dataset.latent = latent;
    row.dataset.kl = kl;
    row.innerHTML = `<span class="name">z${latent}</span>
      <input type="range" min="${-RANGE}" max="${RANGE}" step="0.05" value="0" aria-label="z${latent}">
      <span class="value">0.00</span>
      <span class="kl" title="average KL, nats">${kl === null ? "–" : kl.toFixed(3)}${collapsed ? ' <span class="badge">collapsed</span>' : ""}</span>`;
    if (collapsed) row.title = `average KL below ${threshold} nats: this latent carries no information`;
    const slider = row.querySelector("input");
    slider.addEventListener("input", () => { state.z[latent] = Number(slider.value); state.chosen = latent; update(); });
    row.addEventListener("click", () => { if (state.chosen !== latent) { state.chosen = latent; update(); } });
    box.appendChild(row);
  }
}

async function upload(file) {
  const [h, w, c] = state.shape;
  const bitmap = await createImageBitmap(file);
  const canvas = $("original");
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(bitmap, 0, 0, w, h);
  const px = ctx.getImageData(0, 0, w, h).data;
  const image = [];
  for (let y = 0; y < h; y++) {
    const row = [];
    for (let x = 0; x < w; x++) {
      const i = 4 * (y * w + x);
      // Grey as Pillow's "L" (ITU-R 601-2 luma), which hwkeras predict uses for image files.
      row.push(c === 1 ? [(px[i] * 299 + px[i + 1] * 587 + px[i + 2] * 114) / 1000 / 255]
                       : [px[i] / 255, px[i + 1] / 255, px[i + 2] / 255]);
    }
    image.push(row);
  }
  const [recon, code] = await Promise.all([predict("reconstruct", { images: [image] }),
                                           predict("encode", { images: [image] })]);
  draw($("reconstruction"), recon[0]);
  $("code").textContent = code.mean[0].map((v) => v.toFixed(3)).join(", ");
  $("reconstruction").dataset.done = String(Number($("reconstruction").dataset.done || 0) + 1);
  setCode(code.mean[0]);
}

async function samples() {
  const inputs = { num_samples: 8, seed: Math.max(0, Math.floor(Number($("seed").value) || 0)) };
  if (state.hasNu) inputs.nu = Number($("nu").value);
  const out = await predict("sample_seeded", inputs);
  const box = $("samples");
  box.replaceChildren(...out.images.map((image, i) => {
    const canvas = document.createElement("canvas");
    draw(canvas, image);
    canvas.title = "start from this sample's code";
    canvas.addEventListener("click", () => setCode(out.z[i]));
    return canvas;
  }));
  box.dataset.done = String(Number(box.dataset.done || 0) + 1);
}

async function start() {
  const response = await fetch(API + "/metadata");
  const meta = await response.json();
  if (!response.ok) throw new Error(meta.error || response.statusText);
  const info = meta.metadata.hwkeras;
  const card = info.card;
  state.p = card.latent_dim;
  state.shape = card.image_shape;
  state.z = new Array(state.p).fill(0);
  state.chosen = info.latents[0].latent;
  $("model-name").textContent = NAME;
  $("summary").textContent = `${card.model}, ${state.p} latents, images ${state.shape.join("x")}` +
    (card.dataset ? `, trained on ${card.dataset}` : "") +
    (card.training_steps ? ` for ${card.training_steps} steps` : "");
  $("kl-source").textContent = "Average KL over " + info.source + ".";
  buildSliders(info.latents, info.threshold);
  const seeded = meta.metadata.signature_def.signature_def.sample_seeded;
  state.hasNu = Boolean(seeded && seeded.inputs.nu);
  if (!seeded) $("prior-samples").hidden = true;  // an ONNX export draws no samples
  if (state.hasNu) {
    // nu > p - 1 for the inverse-Wishart; from just above it to well past the model's own.
    const nu = $("nu");
    nu.min = String(state.p - 1 + 0.5);
    nu.max = String(Math.max(4 * card.nu, state.p + 20));
    nu.step = "0.5";
    nu.value = String(card.nu);
    $("nu-value").textContent = nu.value;
    nu.addEventListener("input", () => { $("nu-value").textContent = nu.value; });
    nu.addEventListener("change", () => samples().catch((e) => say(e.message)));
    $("nu-row").hidden = false;
  }
  $("upload").addEventListener("change", (event) => {
    if (event.target.files.length) upload(event.target.files[0]).catch((e) => say(e.message));
  });
  $("sample").addEventListener("click", () => samples().catch((e) => say(e.message)));
  $("reset").addEventListener("click", () => setCode(new Array(state.p).fill(0)));
  update();
  document.body.dataset.ready = "1";
}

start().catch((e) => say("Could not load the model: " + e.message));
