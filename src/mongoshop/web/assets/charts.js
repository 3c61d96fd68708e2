// Bar charts as plain SVG, built with DOM calls: no library, no markup strings, no inline style.
//
// Each chart is drawn into a <figure>: a <figcaption> and an <svg>. Every bar is a
// <g class="bar" data-label="…" data-value="…"> holding its rect, its label and
// its value as text, and a <title> for a tooltip. When it is drawn the figure gets
// data-ready="true" (and data-bars="N"), which is what the browser tests wait for.
// Colours and fonts are in dashboard.css (classes only).

const SVG = "http://www.w3.org/2000/svg";

function svgNode(name, attributes = {}, text = undefined) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) {
    node.setAttribute(key, String(value));
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function shorten(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function begin(figure, title, width, height) {
  figure.dataset.ready = "false";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  const svg = svgNode("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": title,
    class: "chart-svg",
  });
  figure.replaceChildren(caption, svg);
  return svg;
}

function finish(figure, bars) {
  figure.dataset.bars = String(bars);
  figure.dataset.ready = "true";
}

function bar(item) {
  const group = svgNode("g", { class: "bar", "data-label": item.label, "data-value": item.value });
  group.append(svgNode("title", {}, `${item.label}: ${item.text}`));
  return group;
}

function empty(svg, width, height, message) {
  svg.append(
    svgNode("text", { x: width / 2, y: height / 2, class: "chart-empty", "text-anchor": "middle" }, message),
  );
}

// Horizontal bars, one row per item: {label, value (a number), text (the value shown)}.
export function barChart(figure, title, items, { emptyText = "No data" } = {}) {
  const width = 640;
  const labelWidth = 170;
  const valueWidth = 120;
  const row = 26;
  const barHeight = 18;
  const height = Math.max(1, items.length) * row + 8;
  const svg = begin(figure, title, width, height);
  if (items.length === 0) {
    empty(svg, width, height, emptyText);
    finish(figure, 0);
    return;
  }
  const room = width - labelWidth - valueWidth;
  const largest = Math.max(...items.map((item) => item.value), 0);
  items.forEach((item, index) => {
    const top = 4 + index * row;
    const middle = top + barHeight / 2;
    const length = largest > 0 ? (item.value / largest) * room : 0;
    const group = bar(item);
    group.append(
      svgNode(
        "text",
        { x: labelWidth - 8, y: middle, class: "bar-label", "text-anchor": "end", "dominant-baseline": "middle" },
        shorten(item.label, 24),
      ),
      svgNode("rect", {
        x: labelWidth,
        y: top,
        width: item.value > 0 ? Math.max(length, 2) : 0,
        height: barHeight,
        class: "bar-rect",
      }),
      svgNode(
        "text",
        { x: labelWidth + length + 6, y: middle, class: "bar-value", "dominant-baseline": "middle" },
        item.text,
      ),
    );
    svg.append(group);
  });
  finish(figure, items.length);
}

// Vertical columns side by side (a histogram): {label, value, text} per column.
export function columnChart(figure, title, items, { emptyText = "No data" } = {}) {
  const width = 640;
  const height = 240;
  const top = 22;
  const bottom = 36;
  const plot = height - top - bottom;
  const svg = begin(figure, title, width, height);
  if (items.length === 0) {
    empty(svg, width, height, emptyText);
    finish(figure, 0);
    return;
  }
  const slot = width / items.length;
  const columnWidth = slot * 0.7;
  const largest = Math.max(...items.map((item) => item.value), 0);
  svg.append(svgNode("line", { x1: 0, x2: width, y1: top + plot, y2: top + plot, class: "axis" }));
  items.forEach((item, index) => {
    const tall = largest > 0 ? (item.value / largest) * plot : 0;
    const left = index * slot + (slot - columnWidth) / 2;
    const centre = index * slot + slot / 2;
    const group = bar(item);
    group.append(
      svgNode("rect", {
        x: left,
        y: top + plot - tall,
        width: columnWidth,
        height: tall,
        class: "bar-rect",
      }),
      svgNode(
        "text",
        { x: centre, y: top + plot - tall - 6, class: "bar-value", "text-anchor": "middle" },
        item.text,
      ),
      svgNode(
        "text",
        { x: centre, y: top + plot + 18, class: "bar-label", "text-anchor": "middle" },
        shorten(item.label, 18),
      ),
    );
    svg.append(group);
  });
  finish(figure, items.length);
}
