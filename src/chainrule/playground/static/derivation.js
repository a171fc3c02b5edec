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
  if (d.note) panel.appendChild(node("p", "note", d.note));
  // The clicked element's own chain first, then its update, then the whole derivation.
  const blocks = d.blocks.map((block, k) => [block, k]);
  let chain = [];
  if (d.focus !== null) {
    const level = d.blocks[d.focus].level;
    let end = d.focus + 1;
    while (end < d.blocks.length && !(d.blocks[end].t === "h" && d.blocks[end].level <= level)) end++;
    chain = blocks.splice(d.focus, end - d.focus);
  }
  const focus = node("div", "focus");
  focus.id = "d-focus";
  for (const [block] of chain) focus.appendChild(blockElement(block));
  panel.appendChild(focus);
  panel.appendChild(node("h3", "", `The update of ${d.label} (${d.optimizer})`));
  const update = node("div", "update");
  update.id = "d-update";
  for (const line of d.update) update.appendChild(equation(line));
  panel.appendChild(update);
  panel.appendChild(node("h3", "whole", "The whole derivation of this step"));
  for (const [block] of blocks) panel.appendChild(blockElement(block));
  if (sameTarget) panel.scrollTop = keep;
}
