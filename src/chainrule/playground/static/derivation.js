// The derivation panel: explain's blocks for the clicked element, maths by KaTeX.
function node(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function maths(tex, fallback) {
  const span = node("span", "tex");
  if (window.katex) {
    try { window.katex.render(tex, span, { throwOnError: false, output: "html" }); return span; }
    catch (error) { /* shown as text below */ }
  }
  span.textContent = fallback;
  return span;
}

export function equation(block) {
  const div = node("div", "eq");
  div.title = block.text;
  div.dataset.text = block.text;
  div.appendChild(maths(block.tex, block.text));
  if (block.status === true) div.appendChild(node("span", "mark ok", "✓"));
  if (block.status === false) div.appendChild(node("span", "mark bad", "✗"));
  if (block.comment) div.appendChild(node("span", "comment", block.comment));
  return div;
}

function blockElement(block) {
  switch (block.t) {
    case "h": return node(block.level <= 2 ? "h3" : "h4", "", block.text);
    case "p": return node("p", "", block.text);
    case "note": return node("p", "note", block.text);
    case "eq": return equation(block);
    case "matrix": {
      const div = node("div");
      div.appendChild(node("div", "", `${block.label} =`));
      div.appendChild(node("pre", "", block.rows.join("\n")));
      return div;
    }
    case "table": {
      const table = node("table");
      const head = table.createTHead().insertRow();
      for (const h of block.header) head.appendChild(node("th", "", h));
      const body = table.createTBody();
      for (const row of block.rows) { const tr = body.insertRow(); for (const c of row) tr.appendChild(node("td", "", c)); }
      return table;
    }
    default: return node("p", "", JSON.stringify(block));
  }
}

export function showDerivation(panel, d) {
  const keep = panel.scrollTop;
  const sameTarget = panel.dataset.element === `${d.name}[${d.index}]`;
  panel.replaceChildren();
  panel.dataset.element = `${d.name}[${d.index}]`;
  const summary = node("dl", "summary");
  const rows = [
    ["element", `${d.label}  (${d.name}[${d.index.join(",")}])`, "d-label"],
    ["step", `${d.step} (next batch: ${d.batch} rows)`, "d-step"],
    ["E", d.loss, "d-loss"],
    [d.label, d.value, "d-value"],
    [`∂E/∂${d.label}`, d.grad, "d-grad"],
    ["finite difference", `${d.fd} ${d.kink ? "(kink) " : ""}${d.fd_ok ? "✓" : "✗"}  rel. error ${d.fd_error}`, "d-fd"],
    [`${d.label} after ${d.optimizer}`, d.after, "d-after"],
    ["computed in", `${d.ms} ms`, "d-ms"],
  ];
  for (const [term, value, id] of rows) {
    summary.appendChild(node("dt", "", term));
    const dd = node("dd", "", value);
    dd.id = id;
    summary.appendChild(dd);
  }
  panel.appendChild(summary);
  panel.appendChild(node("h3", "", `The update of ${d.label} (${d.optimizer})`));
  const update = node("div", "update");
  update.id = "d-update";
  for (const line of d.update) update.appendChild(equation(line));
  panel.appendChild(update);
  let section = null;
  d.blocks.forEach((block, k) => {
    const e = blockElement(block);
    if (k === d.focus) { section = node("div", "focus"); section.id = "d-focus"; panel.appendChild(section); }
    else if (section && block.t === "h") section = null;
    (section || panel).appendChild(e);
  });
  if (sameTarget) panel.scrollTop = keep;
}
