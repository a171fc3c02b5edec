// The loss-surface view: contours of f, one path per optimizer, a learning-rate slider each.
const COLOURS = { SGD: "#222222", Momentum: "#1f6fb2", Nesterov: "#6a3d9a", AdaGrad: "#33a02c",
  RMSProp: "#e31a1c", Adadelta: "#b15928", Adam: "#ff7f00" };

export class SurfaceView {
  constructor(send) {
    this.send = send;
    this.canvas = document.getElementById("surface-canvas");
    this.table = document.querySelector("#optimizers tbody");
    this.state = null;
    this.lrs = {};
    this.hidden = new Set();
    this.start = null;
    document.getElementById("surface").addEventListener("change", () => { this.lrs = {}; this.start = null; this.request(); });
    const steps = document.getElementById("steps");
    steps.addEventListener("input", () => { document.getElementById("steps-value").textContent = steps.value; });
    steps.addEventListener("change", () => this.request());
    this.canvas.addEventListener("click", (event) => this.clickStart(event));
  }

  request(only) {
    const message = { type: "surface", surface: document.getElementById("surface").value,
      steps: Number(document.getElementById("steps").value), lrs: this.lrs };
    if (this.start) message.start = this.start;
    if (only) message.only = only;
    this.send(message);
  }

  receive(message) {
    if (message.grid) { this.state = message; this.buildTable(); }
    else if (this.state) {
      for (const path of message.paths) {
        const k = this.state.paths.findIndex((p) => p.name === path.name);
        this.state.paths[k] = path;
      }
    }
    this.lrs = { ...message.lrs };
    this.updateTable();
    this.draw();
  }

  buildTable() {
    this.table.replaceChildren();
    document.getElementById("surface-formula").innerHTML = "";
    if (window.katex) window.katex.render(this.state.formula, document.getElementById("surface-formula"), { throwOnError: false });
    for (const path of this.state.paths) {
      const tr = this.table.insertRow();
      tr.dataset.name = path.name;
      const show = document.createElement("input");
      show.type = "checkbox"; show.checked = !this.hidden.has(path.name);
      show.addEventListener("change", () => { show.checked ? this.hidden.delete(path.name) : this.hidden.add(path.name); this.draw(); });
      tr.insertCell().appendChild(show);
      tr.insertCell().innerHTML = `<span class="swatch" style="background:${COLOURS[path.name]}"></span> ${path.name}`;
      const cell = tr.insertCell();
      const slider = document.createElement("input");
      slider.type = "range"; slider.min = -4; slider.max = 2; slider.step = 0.05;
      slider.value = Math.log10(path.lr);
      const value = document.createElement("output");
      slider.addEventListener("input", () => { value.textContent = (10 ** slider.value).toPrecision(2); });
      slider.addEventListener("change", () => { this.lrs[path.name] = Number((10 ** slider.value).toPrecision(3)); this.request(path.name); });
      cell.append(slider, " ", value);
      tr.insertCell();
    }
  }

  updateTable() {
    for (const path of this.state.paths) {
      const tr = this.table.querySelector(`tr[data-name="${path.name}"]`);
      if (!tr) continue;
      tr.cells[2].querySelector("output").textContent = path.lr.toPrecision(2);
      tr.cells[2].querySelector("input").value = Math.log10(path.lr);
      const end = path.points[path.points.length - 1];
      tr.cells[3].textContent = path.diverged ? "diverged" : (Math.abs(end[2]) < 1e-3 ? end[2].toExponential(1) : end[2].toPrecision(3));
    }
  }

  scale() {
    const { x, y } = this.state.grid, W = this.canvas.width, H = this.canvas.height;
    return { sx: (v) => ((v - x[0]) / (x[1] - x[0])) * W, sy: (v) => H - ((v - y[0]) / (y[1] - y[0])) * H,
      ix: (p) => x[0] + (p / W) * (x[1] - x[0]), iy: (p) => y[0] + ((H - p) / H) * (y[1] - y[0]) };
  }

  clickStart(event) {
    if (!this.state) return;
    const r = this.canvas.getBoundingClientRect(), s = this.scale();
    const px = (event.clientX - r.left) * (this.canvas.width / r.width), py = (event.clientY - r.top) * (this.canvas.height / r.height);
    this.start = [Number(s.ix(px).toFixed(3)), Number(s.iy(py).toFixed(3))];
    this.request();
  }

  draw() {
    const ctx = this.canvas.getContext("2d"), W = this.canvas.width, H = this.canvas.height;
    const g = this.state.grid, n = g.n, s = this.scale();
    const v = g.values, lo = Math.min(...v), hi = Math.max(...v);
    const image = ctx.createImageData(n, n);
    const level = (f) => Math.log1p(f - lo) / Math.log1p(hi - lo);  // log levels: valleys show
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
      const t = level(v[r * n + c]);
      const band = Math.floor(t * 14) % 2 ? 0.93 : 1;  // contour bands
      const o = ((n - 1 - r) * n + c) * 4;
      image.data.set([Math.round((70 + 185 * t) * band), Math.round((120 + 120 * t) * band), Math.round((200 - 40 * t) * band), 255], o);
    }
    const off = document.createElement("canvas"); off.width = off.height = n;
    off.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, W, H);
    const [mx, my] = this.state.minimum;
    ctx.fillStyle = "#fff"; ctx.font = "18px system-ui"; ctx.fillText("★", s.sx(mx) - 7, s.sy(my) + 6);
    for (const path of this.state.paths) {
      if (this.hidden.has(path.name)) continue;
      ctx.beginPath(); ctx.strokeStyle = COLOURS[path.name]; ctx.lineWidth = 2;
      path.points.forEach(([x, y], k) => (k ? ctx.lineTo(s.sx(x), s.sy(y)) : ctx.moveTo(s.sx(x), s.sy(y))));
      ctx.stroke();
      const end = path.points[path.points.length - 1];
      ctx.beginPath(); ctx.arc(s.sx(end[0]), s.sy(end[1]), 4, 0, 2 * Math.PI); ctx.fillStyle = COLOURS[path.name]; ctx.fill();
    }
    const [x0, y0] = this.state.start;
    ctx.beginPath(); ctx.arc(s.sx(x0), s.sy(y0), 5, 0, 2 * Math.PI); ctx.fillStyle = "#fff"; ctx.fill();
    ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5; ctx.stroke();
  }
}
