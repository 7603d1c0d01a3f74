// Small live line charts of the admin console, drawn as SVG: no library.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 300;
const HEIGHT = 80;

/** svg creates an SVG element with attributes. */
function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** scaleMax rounds the largest value up to 1, 2 or 5 times a power of ten (at least 1). */
function scaleMax(values) {
  const top = Math.max(1, ...values.filter((v) => Number.isFinite(v)));
  const p = 10 ** Math.floor(Math.log10(top));
  for (const m of [1, 2, 5, 10]) if (top <= m * p) return m * p;
  return 10 * p;
}

/**
 * drawChart draws series ([{name, values}], values oldest first, null for
 * none) in figure, the last `points` values of each, right-aligned, with a
 * legend of each series' latest value.
 */
export function drawChart(figure, series, points) {
  const max = scaleMax(series.flatMap((s) => s.values));
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "plot", role: "img", "aria-label": figure.querySelector("figcaption").textContent });
  chart.append(svg("line", { x1: 0, y1: HEIGHT - 0.5, x2: WIDTH, y2: HEIGHT - 0.5, class: "axis" }));
  const top = svg("text", { x: 2, y: 10, class: "scale" });
  top.textContent = String(max);
  chart.append(top);
  series.forEach((s, i) => {
    const step = WIDTH / Math.max(1, points - 1);
    const offset = points - s.values.length;
    let d = "";
    s.values.forEach((v, j) => {
      if (v == null || !Number.isFinite(v)) return;
      const x = (offset + j) * step;
      const y = HEIGHT - 1 - (Math.min(v, max) / max) * (HEIGHT - 12);
      d += `${d === "" || s.values[j - 1] == null ? "M" : "L"}${x.toFixed(1)},${y.toFixed(1)} `;
    });
    if (d) chart.append(svg("path", { d, class: `line s${i}` }));
  });
  const legend = document.createElement("ul");
  legend.className = "legend";
  series.forEach((s, i) => {
    const last = s.values.at(-1);
    const item = document.createElement("li");
    item.className = `s${i}`;
    item.textContent = `${s.name} ${last == null ? "—" : last >= 100 ? Math.round(last) : last.toFixed(1)}`;
    legend.append(item);
  });
  figure.querySelector("svg")?.remove();
  figure.querySelector(".legend")?.remove();
  figure.append(chart, legend);
}
