// Canvas pictures: the output heat map with the data points, and the loss curves.
const POS = [31, 111, 178], NEG = [224, 128, 44];

function mix(t) {  // 0 -> orange, 0.5 -> white, 1 -> blue
  const [a, s] = t < 0.5 ? [NEG, 1 - 2 * t] : [POS, 2 * t - 1];
  return a.map((c) => Math.round(255 + (c - 255) * s * 0.85));
}

export function drawHeatmap(canvas, heat, points) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  if (!heat) {
    ctx.fillStyle = "#6b7280";
    ctx.font = "13px system-ui";
    ctx.fillText("no picture: the data is not 2-D", 20, H / 2);
    return;
  }
  const n = heat.n, v = heat.values;
  let lo = 0, hi = 1;
  if (!heat.probability) { lo = Math.min(...v); hi = Math.max(...v); if (hi - lo < 1e-12) hi = lo + 1; }
  const image = ctx.createImageData(n, n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
    const rgb = mix(Math.min(1, Math.max(0, (v[r * n + c] - lo) / (hi - lo))));
    const o = ((n - 1 - r) * n + c) * 4;  // row 0 is the lowest y: drawn at the bottom
    image.data.set([...rgb, 255], o);
  }
  const off = document.createElement("canvas");
  off.width = off.height = n;
  off.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, 0, 0, W, H);
  const sx = (x) => ((x - heat.x[0]) / (heat.x[1] - heat.x[0])) * W;
  const sy = (y) => H - ((y - heat.y[0]) / (heat.y[1] - heat.y[0])) * H;
  for (const [set, edge] of [[points.train, "#fff"], [points.test, "#222"]]) {
    for (const [x, y, label] of set) {
      ctx.beginPath();
      ctx.arc(sx(x), sy(y), 3.2, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${(label > 0.5 ? POS : NEG).join(",")})`;
      ctx.fill();
      ctx.strokeStyle = edge;
      ctx.lineWidth = 1;
      ctx.stroke();
    }
  }
}

export function drawLoss(canvas, history) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = 30;
  ctx.clearRect(0, 0, W, H);
  if (!history.length) return;
  const finite = history.flatMap(([, a, b]) => [a, b]).filter((v) => v !== null && isFinite(v));
  const hi = Math.max(...finite, 1e-12), last = history[history.length - 1][0] || 1;
  const sx = (s) => pad + (s / last) * (W - pad - 8), sy = (v) => H - pad - (v / hi) * (H - pad - 10);
  ctx.strokeStyle = "#d9dee5"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(pad, 10); ctx.lineTo(pad, H - pad); ctx.lineTo(W - 8, H - pad); ctx.stroke();
  ctx.fillStyle = "#6b7280"; ctx.font = "11px system-ui";
  ctx.fillText(hi.toPrecision(3), 2, 18); ctx.fillText("0", 18, H - pad);
  ctx.fillText(`step ${last}`, W - 70, H - 12);
  for (const [column, colour, dash] of [[1, "#222", []], [2, "#999", [5, 4]]]) {
    ctx.beginPath(); ctx.setLineDash(dash); ctx.strokeStyle = colour; ctx.lineWidth = 1.6;
    let started = false;
    for (const row of history) {
      const v = row[column];
      if (v === null || !isFinite(v)) continue;
      if (started) ctx.lineTo(sx(row[0]), sy(v)); else { ctx.moveTo(sx(row[0]), sy(v)); started = true; }
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
}
