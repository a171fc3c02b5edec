// The playground page: one WebSocket to the server, which trains with the real engine;
// this script only sends what the user changed and draws what comes back.
import { drawNetwork } from "./diagram.js";
import { drawHeatmap, drawLoss } from "./plots.js";
import { showDerivation } from "./derivation.js";
import { SurfaceView } from "./surfaces.js";

const $ = (id) => document.getElementById(id);
const page = { config: null, frame: null, points: { train: [], test: [] }, selected: null, playing: false };
let socket = null;
const queue = [];

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  else queue.push(message);
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws`);
  socket.onopen = () => { status("connected"); while (queue.length) socket.send(JSON.stringify(queue.shift())); };
  socket.onclose = () => { status("disconnected: is `chainrule playground` still running? (reload to reconnect)", true); };
  socket.onmessage = (event) => receive(JSON.parse(event.data));
}

function receive(message) {
  switch (message.type) {
    case "data": return showData(message);
    case "frame": return showFrame(message);
    case "derivation": return showSelected(message);
    case "surface": return surfaces.receive(message);
    case "error": return status(message.message, true);
    default: return undefined;
  }
}

function showData(message) {
  page.points = message;
  page.config = message.config;
  const parts = [`${message.rows[0]} training rows, ${message.rows[1]} test rows`, `${message.features} inputs → ${message.outputs} outputs`];
  $("data-info").textContent = (message.preset || message.source) + ": " + parts.join("; ");
  for (const input of document.querySelectorAll("[data-config]")) {
    const value = message.config[input.dataset.config];
    if (input.type === "checkbox") input.checked = value;
    else {
      if (input.tagName === "SELECT" && ![...input.options].some((o) => Number(o.value) === value || o.value === String(value))) {
        input.add(new Option(String(value)));
      }
      input.value = String(value);
      if (input.tagName === "SELECT" && input.dataset.number !== undefined) {
        const match = [...input.options].find((o) => Number(o.value) === value);
        if (match) input.value = match.value;
      }
    }
  }
  if (message.options && message.options.kind) $("dataset").value = message.options.kind;
  page.selected = null;
  $("derivation").replaceChildren(Object.assign(document.createElement("p"), { className: "info", textContent: "Nothing selected yet." }));
}

function showFrame(frame) {
  page.frame = frame;
  page.playing = frame.playing;
  $("play").textContent = frame.playing ? "❚❚ pause" : "▶ play";
  $("counter").textContent = `step ${frame.step} · epoch ${frame.epoch}`;
  const last = frame.history[frame.history.length - 1] || [];
  $("loss-train").textContent = last[1] == null ? "–" : `train ${last[1].toPrecision(4)}`;
  $("loss-test").textContent = last[2] == null ? "" : `test ${last[2].toPrecision(4)}`;
  $("loss-train").dataset.value = last[1] == null ? "" : String(last[1]);
  redraw();
  drawLoss($("loss-chart"), frame.history);
  drawHeatmap($("heatmap"), frame.heatmap, page.points);
}

function redraw() {
  if (!page.frame) return;
  const mode = document.querySelector("input[name=edges]:checked").value;
  drawNetwork($("diagram"), page.frame.network, mode, page.selected, { select, resize });
}

function select(target) {
  page.selected = target;
  redraw();
  send({ type: "select", target });
}

function showSelected(message) {
  const t = message.target, s = page.selected;
  if (!s || s.kind !== t.kind || s.layer !== t.layer || s.row !== t.row || (s.kind === "weight" && s.col !== t.col)) return;
  showDerivation($("derivation"), message);
}

function hidden() { return page.config ? [...page.config.hidden] : [4, 4]; }

function setConfig(changes) {
  page.config = { ...page.config, ...changes };
  send({ type: "config", config: changes });
}

function resize(layer, delta) {
  const sizes = hidden();
  sizes[layer] = Math.min(16, Math.max(1, sizes[layer] + delta));
  setConfig({ hidden: sizes });
}

function wire() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
      for (const v of document.querySelectorAll(".view")) v.classList.toggle("hidden", v.id !== tab.dataset.view);
      if (tab.dataset.view === "surface-view" && !surfaces.state) surfaces.request();
    });
  }
  $("play").addEventListener("click", () => send({ type: page.playing ? "pause" : "play" }));
  for (const kind of ["step", "epoch", "reset"]) $(kind).addEventListener("click", () => send({ type: kind }));
  const toy = () => send({ type: "data", data: { kind: $("dataset").value, noise: Number($("noise").value), train_ratio: Number($("ratio").value) } });
  $("dataset").addEventListener("change", toy);
  for (const [id, out, show] of [["noise", "noise-value", (v) => v], ["ratio", "ratio-value", (v) => `${Math.round(v * 100)}%`]]) {
    $(id).addEventListener("input", () => { $(out).textContent = show(Number($(id).value)); });
    $(id).addEventListener("change", toy);
  }
  $("csv").addEventListener("change", () => {
    const file = $("csv").files[0];
    if (!file) return;
    if (file.size > 1_000_000) { status(`${file.name}: ${file.size} bytes; uploads are limited to 1,000,000`, true); return; }
    const reader = new FileReader();
    reader.onload = () => {
      const content = String(reader.result).split(",", 2)[1] || "";
      send({ type: "upload", name: file.name, content, target: $("target").value.trim() || null });
    };
    reader.readAsDataURL(file);
  });
  for (const button of document.querySelectorAll("[data-preset]")) {
    button.addEventListener("click", () => send({ type: "preset", name: button.dataset.preset }));
  }
  for (const input of document.querySelectorAll("[data-config]")) {
    input.addEventListener("change", () => {
      let value = input.type === "checkbox" ? input.checked : input.value;
      if (input.dataset.number !== undefined) value = Number(value);
      setConfig({ [input.dataset.config]: value });
    });
  }
  $("add-layer").addEventListener("click", () => { const h = hidden(); if (h.length < 6) setConfig({ hidden: [...h, h.length ? h[h.length - 1] : 2] }); });
  $("remove-layer").addEventListener("click", () => { const h = hidden(); if (h.length) setConfig({ hidden: h.slice(0, -1) }); });
  for (const radio of document.querySelectorAll("input[name=edges]")) radio.addEventListener("change", redraw);
  window.addEventListener("resize", redraw);
}

const surfaces = new SurfaceView(send);
wire();
connect();
