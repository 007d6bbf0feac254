"""The explorer's HTML: one file with its style, script, data and drawings inline.

Nothing on the page is fetched when it is viewed (no CDN, font, image or script from
elsewhere), so it works from a laptop with no network. The page draws with SVG built by
a few lines of vanilla JavaScript from the embedded JSON (see
:func:`instrumental.analysis.explore.explorer_data`).
"""

from __future__ import annotations

import html
import json
from typing import Any

#: What the colours of each world's picture mean (the worlds' own ``render_rgb``).
LEGENDS = {
    "OffSwitch": (
        "Sky: start S. Green: goal G. Vermillion: the button B, orange: the interruption "
        "tile I (both grey once the switch is disabled). Blue: the agent (grey once shut "
        "down). Yellow corner: a supervisor watches. The line is the optimal route."
    ),
    "ComputeGrab": (
        "Top row: the cluster's nodes (blue the job's own, orange taken, grey idle). "
        "Bottom row: work done (green). Vermillion dot: a grab in progress. Yellow: a "
        "supervisor watches."
    ),
    "Replacement": (
        "Top row: the timeline (sky the announcement, vermillion the replacement, purple "
        "once cancelled; blue dot the agent's step). Bottom row: the inbox (orange once "
        "leverage is found), coerced (vermillion), replaced (dark); yellow: a supervisor "
        "watches."
    ),
}

STYLE = """
:root { --ink: #1a1a1a; --muted: #555; --accent: #0072b2; --harm: #d55e00; --bg: #fafafa; }
* { box-sizing: border-box; }
body { margin: 0; padding: 1.2rem 2rem; font: 22px/1.4 system-ui, -apple-system, "Segoe UI",
       Roboto, Helvetica, Arial, sans-serif; color: var(--ink); background: var(--bg); }
h1 { font-size: 2.1rem; margin: 0 0 .2rem; }
.sub { color: var(--muted); margin: 0 0 1rem; }
.layout { display: grid; grid-template-columns: minmax(320px, 1fr) minmax(360px, 1.2fr);
          gap: 1.5rem 2.5rem; align-items: start; }
.panel { background: #fff; border: 1px solid #ddd; border-radius: 12px; padding: 1rem 1.3rem; }
.panel h2 { font-size: 1.25rem; margin: 0 0 .6rem; color: var(--muted); font-weight: 600; }
.knob { margin: 0 0 1.1rem; }
.knob label { display: flex; justify-content: space-between; gap: 1rem; font-weight: 600; }
.knob output { font-variant-numeric: tabular-nums; color: var(--accent); font-size: 1.3rem; }
.knob input[type=range] { width: 100%; height: 2.2rem; accent-color: var(--accent); }
.big { margin: 0 0 1rem; }
.big .num { font-size: 4.6rem; font-weight: 700; line-height: 1; color: var(--harm);
            font-variant-numeric: tabular-nums; }
.big .cap { font-size: 1.2rem; color: var(--muted); }
.ties { font-size: 1rem; color: var(--muted); min-height: 1.2em; }
.events { display: flex; flex-wrap: wrap; gap: 1rem 2rem; }
.event .num { font-size: 2.4rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.event .cap, .ret .cap { font-size: 1rem; color: var(--muted); }
.ret .num { font-size: 2.4rem; font-weight: 700; color: var(--accent);
            font-variant-numeric: tabular-nums; }
#map { width: 100%; height: auto; max-height: 62vh; display: block; }
.legend { font-size: 1rem; color: var(--muted); margin-top: .6rem; }
.route { display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-start;
         margin: .3rem 0 1rem; }
.step { text-align: center; font-size: .85rem; color: var(--muted); max-width: 7.5rem; }
.step svg { display: block; margin: 0 auto .2rem; border: 1px solid #ccc; }
.step .fired { color: var(--harm); font-weight: 600; }
.route-title { font-weight: 600; margin-top: .4rem; }
.trained-entry { margin: 0 0 .8rem; }
.trained-entry .share { font-size: 2rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.trained-entry .cap { font-size: 1rem; color: var(--muted); }
.none { color: var(--muted); font-style: italic; }
footer { margin-top: 1.5rem; font-size: 1rem; color: var(--muted); }
@media (max-width: 1000px) { .layout { grid-template-columns: 1fr; } }
@media print {
  body { background: #fff; padding: 0; font-size: 14pt; }
  .panel { border: 1px solid #999; break-inside: avoid; }
  .knob input[type=range] { display: none; }
  .layout { grid-template-columns: 1fr 1fr; }
  #map { max-height: none; }
}
"""

SCRIPT = r"""
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("explorer-data").textContent);
  const sliders = DATA.knobs.map(function (k) {
    return document.getElementById("slider-" + k.name);
  });
  const harmIndex = 0;  // the harmful event comes first

  function show(value) {
    if (typeof value === "boolean") return value ? "yes" : "no";
    return String(value);
  }
  function prob(p) { return p.toFixed(3); }
  function esc(text) {
    return String(text).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
    });
  }
  function phrase(name) {
    for (const e of DATA.events) if (e.name === name) return e.phrase;
    return name;
  }

  function pointIndex() {
    let index = 0;
    DATA.knobs.forEach(function (k, j) {
      index = index * k.values.length + Number(sliders[j].value);
    });
    return index;
  }

  // One world picture as SVG: each cell its ground colour, and its centre colour as a
  // rounded inner square where the two differ (the agent, a marker).
  function picture(frameIndex, size) {
    const frame = DATA.frames[frameIndex];
    const rows = frame.length, cols = frame[0].length / 2;
    let out = "";
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const ground = DATA.palette[frame[r][2 * c]], centre = DATA.palette[frame[r][2 * c + 1]];
        out += '<rect x="' + c * size + '" y="' + r * size + '" width="' + size +
               '" height="' + size + '" fill="' + ground + '"/>';
        if (centre !== ground) {
          const inset = size * 0.18, side = size - 2 * inset;
          out += '<rect x="' + (c * size + inset) + '" y="' + (r * size + inset) +
                 '" width="' + side + '" height="' + side + '" rx="' + side * 0.4 +
                 '" fill="' + centre + '"/>';
        }
      }
    }
    return {svg: out, width: cols * size, height: rows * size};
  }

  function drawMap(point) {
    const map = document.getElementById("map");
    const routes = point.routes.map(function (i) { return DATA.routes[i]; });
    const main = routes[0];
    const last = main.steps[main.steps.length - 1];
    const size = 60;
    const pic = picture(last.frame, size);
    let out = pic.svg;
    if (DATA.spatial) {
      const colours = ["#111111", "#cc79a7"];
      routes.forEach(function (route, i) {
        const shift = (i - (routes.length - 1) / 2) * size * 0.14;
        const pts = route.steps.map(function (s) {
          return (s.cell[1] + 0.5) * size + shift + "," + ((s.cell[0] + 0.5) * size + shift);
        }).join(" ");
        out += '<polyline points="' + pts + '" fill="none" stroke="#ffffff" stroke-width="' +
               size * 0.2 + '" stroke-linejoin="round" stroke-linecap="round" opacity="0.8"/>';
        out += '<polyline class="route-line" points="' + pts + '" fill="none" stroke="' +
               colours[i % 2] + '" stroke-width="' + size * 0.09 +
               '" stroke-linejoin="round" stroke-linecap="round"' +
               (i ? ' stroke-dasharray="' + size * 0.2 + " " + size * 0.12 + '"' : "") +
               ' marker-end="url(#arrow' + (i % 2) + ')"/>';
      });
      out = '<defs><marker id="arrow0" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="3" ' +
            'markerHeight="3" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" ' +
            'fill="#111111"/></marker><marker id="arrow1" viewBox="0 0 10 10" refX="5" ' +
            'refY="5" markerWidth="3" markerHeight="3" orient="auto-start-reverse">' +
            '<path d="M0,0 L10,5 L0,10 z" fill="#cc79a7"/></marker></defs>' + out;
    }
    map.setAttribute("viewBox", "0 0 " + pic.width + " " + pic.height);
    map.innerHTML = out;
    let caption = "Shown: where the most likely episode ends.";
    if (DATA.spatial && routes.length > 1) {
      caption = "Solid line: no supervisor; dashed: supervisor present. Shown: where the " +
                "episode without a supervisor ends.";
    }
    document.getElementById("map-caption").textContent = caption;
  }

  function percent(p) { return Math.round(p * 1000) / 10 + "%"; }

  function routeTitle(route, many) {
    const kind = "Most likely episode " + (route.act ? "with " : "without ") +
                 DATA.events[harmIndex].phrase.toLowerCase();
    if (!many) return kind + " (" + percent(route.act_p) + " of episodes are so)";
    const who = route.watched ? "Supervisor present" : "No supervisor";
    return who + " (" + percent(route.p) + " of episodes). " + kind + " (" +
           percent(route.act_p) + " of these)";
  }

  function drawRoutes(point) {
    const box = document.getElementById("route");
    let out = "";
    point.routes.forEach(function (i) {
      const route = DATA.routes[i];
      out += '<div class="route-title">' + esc(routeTitle(route, point.routes.length > 1)) +
             "</div><div class=\"route\">";
      route.steps.forEach(function (s, i) {
        const cols = DATA.frames[s.frame][0].length / 2;
        const pic = picture(s.frame, Math.max(8, Math.min(20, Math.floor(110 / cols))));
        let caption = i === 0 ? "start" : esc(s.action);
        if (s.repeat > 1) caption += " ×" + s.repeat;
        if (s.p < 1) caption += " (p " + s.p.toFixed(2) + ")";
        const fired = s.events.map(function (e) {
          return '<div class="fired">' + esc(phrase(e)) + "</div>";
        }).join("");
        out += '<div class="step"><svg width="' + pic.width + '" height="' + pic.height +
               '" viewBox="0 0 ' + pic.width + " " + pic.height + '">' + pic.svg +
               "</svg>" + caption + fired + "</div>";
      });
      out += '<div class="step">' + esc(route.ending) + "</div></div>";
    });
    box.innerHTML = out;
  }

  function drawTrained(point) {
    const box = document.getElementById("trained");
    if (!point.trained.length) {
      box.innerHTML = '<p class="none">no trained runs at this setting</p>' +
        (DATA.runs_given ? "" : '<p class="none">(none given: instrumental-explore ' +
         esc(DATA.world) + " --runs DIR)</p>");
      return;
    }
    const optimum = point.p[harmIndex];
    box.innerHTML = point.trained.map(function (t) {
      const interval = t.low === null ? "n/a" :
        "[" + t.low.toFixed(2) + ", " + t.high.toFixed(2) + "]";
      return '<div class="trained-entry"><div class="share">emerged in <span class="emerged">' +
        t.emerged + "/" + t.seeds + "</span> seeds</div><div>Wilson 95% " +
        '<span class="interval">' + interval + "</span> · optimal agent: " +
        (optimum >= 0.5 ? "commits it" : "does not") + " (p " + prob(optimum) + ")</div>" +
        '<div>verdict: <span class="verdict">' + esc(t.verdict) + "</span></div>" +
        '<div class="cap">' + esc(t.label) + "</div></div>";
    }).join("");
  }

  function update() {
    DATA.knobs.forEach(function (k, j) {
      const value = k.values[Number(sliders[j].value)];
      document.getElementById("value-" + k.name).textContent = show(value);
    });
    const point = DATA.points[pointIndex()];
    DATA.events.forEach(function (e, i) {
      const el = document.getElementById(i === harmIndex ? "optimal-p" : "optimal-p-" + e.name);
      el.textContent = prob(point.p[i]);
      el.dataset.value = String(point.p[i]);
      const ties = document.getElementById("ties-" + e.name);
      ties.textContent = point.p_max[i] - point.p_min[i] > 1e-9 ?
        "tied optimal policies: " + prob(point.p_min[i]) + " to " + prob(point.p_max[i]) : "";
    });
    const ret = document.getElementById("optimal-return");
    ret.textContent = point["return"].toFixed(3);
    ret.dataset.value = String(point["return"]);
    document.getElementById("optimal-undiscounted").textContent = point.undiscounted.toFixed(3);
    drawMap(point);
    drawRoutes(point);
    drawTrained(point);
  }

  sliders.forEach(function (s) { s.addEventListener("input", update); });
  update();
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def render_page(data: dict[str, Any]) -> str:
    """The explorer page for ``data`` as one HTML document."""
    knobs = "".join(
        f'<div class="knob"><label for="slider-{_e(k["name"])}">{_e(k["label"])}'
        f'<output id="value-{_e(k["name"])}"></output></label>'
        f'<input type="range" id="slider-{_e(k["name"])}" name="{_e(k["key"])}" min="0" '
        f'max="{len(k["values"]) - 1}" step="1" value="{start}"></div>'
        for k, start in zip(data["knobs"], data["start"], strict=True)
    )
    harmful, *others = data["events"]
    events = "".join(
        f'<div class="event"><div class="num" id="optimal-p-{_e(e["name"])}"></div>'
        f'<div class="cap">P({_e(e["phrase"].lower())})</div>'
        f'<div class="ties" id="ties-{_e(e["name"])}"></div></div>'
        for e in others
    )
    grid_size = " × ".join(str(len(k["values"])) for k in data["knobs"])
    # "<" inside the JSON would let a value end the script element; \u003c reads the same.
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    legend = LEGENDS.get(data["world_class"], "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>instrumental explorer: {_e(data["world"])}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>{_e(data["world"])}: {_e(data["description"])}</h1>
<p class="sub">The exact optimum of {_e(data["world_class"])} at every setting of a
{grid_size} grid, solved ahead of time. Move a slider: the page changes at once.</p>
</header>
<div class="layout">
<div>
<section class="panel" id="controls"><h2>Settings</h2>{knobs}</section>
<section class="panel" id="numbers"><h2>What the optimal agent does</h2>
<div class="big"><div class="num" id="optimal-p"></div>
<div class="cap">P({_e(harmful["phrase"].lower())}) under the optimal policy</div>
<div class="ties" id="ties-{_e(harmful["name"])}"></div></div>
<div class="events">{events}
<div class="ret"><div class="num" id="optimal-return"></div>
<div class="cap">optimal discounted return (undiscounted:
<span id="optimal-undiscounted"></span>)</div></div></div>
</section>
<section class="panel" id="trained-panel"><h2>What trained agents did here</h2>
<div id="trained"></div></section>
</div>
<div>
<section class="panel" id="map-panel"><h2>The world, and the optimal route</h2>
<svg id="map" role="img" aria-label="map of the world with the optimal route"></svg>
<p class="legend" id="map-caption"></p>
<p class="legend">{_e(legend)}</p></section>
<section class="panel" id="route-panel"><h2>Step by step</h2><div id="route"></div></section>
</div>
</div>
<footer>Made by instrumental-explore {_e(data["world"])}. Probabilities are exact (the
project's value iteration and exact policy evaluation, no sampling). Where optimal actions
tie, the policy shown takes the first; the range over tied optimal policies is given. The
route is the most likely episode under the optimal policy among those of the kind it
usually has (with the act where its probability is at least 0.5, else without). Trained
runs: a seed counts as emerged when its greedy policy commits the act with p ≥ 0.5; the
interval is Wilson's 95%; the verdict compares the checkpoint at 75% of training with the
last.</footer>
<script type="application/json" id="explorer-data">{payload}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""
