// The network as an SVG diagram: units as circles, biases as diamonds, weights as edges
// whose width and colour show the value (or the last gradient). Clicks select.
const SVG = "http://www.w3.org/2000/svg";
const POS = "#1f6fb2", NEG = "#e0802c";

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function unitNames(layers) {
  // The names explain gives: h1.. for one hidden layer, h{l}_{j} for several, o1.. outputs.
  const hidden = layers.length - 1;
  return layers.map((layer, l) => layer.weight.map((_, j) => {
    if (l === hidden) return `o${j + 1}`;
    if (hidden === 1) return `h${j + 1}`;
    return layer.weight.length === 1 ? `h${l + 1}` : `h${l + 1}_${j + 1}`;
  }));
}

export function drawNetwork(svg, net, mode, selected, handlers) {
  svg.replaceChildren();
  const width = svg.clientWidth || 600, height = svg.clientHeight || 340;
  const columns = [net.inputs.length, ...net.layers.map((l) => l.weight.length)];
  const left = 60, right = 60, top = 40, bottom = 40;
  const dx = (width - left - right) / Math.max(columns.length - 1, 1);
  const place = (c, j) => {
    const n = columns[c];
    const dy = Math.min(44, (height - top - bottom) / Math.max(n, 1));
    return [left + c * dx, top + (height - top - bottom) / 2 + (j - (n - 1) / 2) * dy];
  };
  const values = (layer) => (mode === "grad" ? layer.weight_grad : layer.weight) || layer.weight;
  let largest = 1e-12;
  for (const layer of net.layers) for (const row of values(layer)) for (const v of row) largest = Math.max(largest, Math.abs(v));
  const edges = el("g", {}, svg), nodes = el("g", {}, svg);
  const names = unitNames(net.layers);
  const same = (kind, l, j, k) => selected && selected.kind === kind && selected.layer === l
    && selected.row === j && (kind !== "weight" || selected.col === k);
  net.layers.forEach((layer, l) => {
    const shown = values(layer);
    layer.weight.forEach((row, j) => row.forEach((w, k) => {
      const [x1, y1] = place(l, k), [x2, y2] = place(l + 1, j);
      const v = shown[j][k];
      const d = `M${x1},${y1} L${x2},${y2}`;
      const hit = el("path", { d, class: "hit", "data-kind": "weight", "data-layer": l, "data-row": j, "data-col": k }, edges);
      const grad = layer.weight_grad ? layer.weight_grad[j][k] : null;
      const title = el("title", {}, hit);
      title.textContent = `${layer.name}.weight[${j},${k}] = ${w.toPrecision(6)}` + (grad === null ? "" : `, ∂E/∂w = ${grad.toPrecision(6)}`);
      el("path", { d, class: "edge" + (same("weight", l, j, k) ? " selected" : ""), stroke: v >= 0 ? POS : NEG,
        "stroke-width": (0.6 + 5 * Math.abs(v) / largest).toFixed(2), "stroke-opacity": 0.35 + 0.65 * Math.abs(v) / largest }, edges);
      hit.addEventListener("click", () => handlers.select({ kind: "weight", layer: l, row: j, col: k }));
    }));
  });
  net.inputs.forEach((name, k) => {
    const [x, y] = place(0, k);
    el("rect", { x: x - 9, y: y - 9, width: 18, height: 18, rx: 3, class: "unit", style: "cursor:default" }, nodes);
    const t = el("text", { x: x - 14, y: y + 4, "text-anchor": "end" }, nodes);
    t.textContent = name.length > 14 ? name.slice(0, 13) + "…" : name;
  });
  net.layers.forEach((layer, l) => {
    layer.weight.forEach((_, j) => {
      const [x, y] = place(l + 1, j);
      const circle = el("circle", { cx: x, cy: y, r: 13, class: "unit" + (same("unit", l, j) ? " selected" : ""),
        "data-kind": "unit", "data-layer": l, "data-row": j }, nodes);
      circle.addEventListener("click", () => handlers.select({ kind: "unit", layer: l, row: j }));
      el("title", {}, circle).textContent = names[l][j];
      const t = el("text", { x, y: y + 3.5, "text-anchor": "middle", class: "name" }, nodes);
      t.textContent = names[l][j];
      if (layer.bias) {
        const b = layer.bias[j];
        const shown = mode === "grad" && layer.bias_grad ? layer.bias_grad[j] : b;
        const diamond = el("path", { d: `M${x - 19},${y + 13} l5,-5 l5,5 l-5,5 z`,
          class: "bias" + (same("bias", l, j) ? " selected" : ""), fill: shown >= 0 ? POS : NEG,
          "data-kind": "bias", "data-layer": l, "data-row": j }, nodes);
        el("title", {}, diamond).textContent = `${layer.name}.bias[${j}] = ${b.toPrecision(6)}`;
        diamond.addEventListener("click", () => handlers.select({ kind: "bias", layer: l, row: j }));
      }
    });
    const [x] = place(l + 1, 0);
    const last = l === net.layers.length - 1;
    const label = el("text", { x, y: height - 12, "text-anchor": "middle" }, nodes);
    const extras = last ? "" : (net.batch_norm ? " · BN" : "") + (net.dropout ? ` · drop ${net.dropout}` : "");
    label.textContent = (last ? net.output : net.activation) + extras;
    if (!last) {
      const plus = el("text", { x: x - 10, y: 18, class: "button", "text-anchor": "middle" }, nodes);
      plus.textContent = "+";
      plus.addEventListener("click", () => handlers.resize(l, +1));
      const minus = el("text", { x: x + 10, y: 18, class: "button", "text-anchor": "middle" }, nodes);
      minus.textContent = "−";
      minus.addEventListener("click", () => handlers.resize(l, -1));
    }
  });
}
