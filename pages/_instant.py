"""The step player that runs in the browser: every step of a convolution or pooling is sent
once (core.explain.frames) and Play, Back, Next, the slider, the arrow keys, a click on an
output cell and a hover over one all answer without asking the server.

The step shown is kept in the page's URL (``?<prefix>_step=N``) as it moves, so a reload or a
shared link opens at the same step; the server reads it from there on its next run.
"""

from __future__ import annotations

import json

import streamlit as st

from pages._shared import presenter

CSS = """
.stp { font-family: "DejaVu Sans", Arial, sans-serif; color: #1f2430; --cell: 2.6rem;
       --font: 1rem; --eq: 1.15rem; }
.stp.big { --cell: 3.9rem; --font: 1.6rem; --eq: 1.75rem; }
.stp .row { display: flex; flex-wrap: wrap; gap: 1.6rem; align-items: flex-start; }
.stp .panel { max-width: 100%; overflow-x: auto; }
.stp .panel h4 { margin: 0 0 .35rem 0; font-size: calc(var(--font) * .85); font-weight: 600;
                 color: #555; text-align: center; }
.stp table { border-collapse: separate; border-spacing: 3px; }
.stp td { width: var(--cell); height: var(--cell); min-width: var(--cell); text-align: center;
          font-size: var(--font); border-radius: 4px; background: #e7f0fd; cursor: default;
          border: 2px solid transparent; font-variant-numeric: tabular-nums; padding: 0 2px; }
.stp td.pad { background: repeating-linear-gradient(45deg, #fbf3dc, #fbf3dc 5px, #f1e4bd 5px,
              #f1e4bd 10px); border: 2px dashed #b08900; color: #8a6d00; }
.stp td.win { background: #ffd8a8; border: 2px solid #d9480f; }
.stp td.pad.win { background: repeating-linear-gradient(45deg, #ffd8a8, #ffd8a8 5px,
                  #f6c08a 5px, #f6c08a 10px); border: 2px dashed #d9480f; }
.stp td.best { font-weight: 700; color: #c92a2a; box-shadow: inset 0 0 0 3px #c92a2a; }
.stp td.peek { box-shadow: inset 0 0 0 3px #0b7285; }
.stp .kernel td { background: #d3f9d8; }
.stp .out td { background: #f3f4f6; cursor: pointer; }
.stp .out td.done { background: #fff; border: 2px solid #dee2e6; }
.stp .out td.now { background: #ffe066; border: 2px solid #d9480f; font-weight: 700; }
.stp .out td:hover { box-shadow: inset 0 0 0 3px #0b7285; }
.stp .sign { align-self: center; font-size: calc(var(--font) * 1.4); color: #888; }
.stp .label { margin: .8rem 0 .3rem 0; font-size: var(--font); }
.stp .eq { font-family: "DejaVu Sans Mono", monospace; font-size: var(--eq); background: #f6f8fa;
           border-radius: 6px; padding: .55rem .8rem; white-space: pre-wrap; }
.stp .bar { display: flex; gap: .5rem; align-items: center; margin-top: .6rem; }
.stp button { font-size: var(--font); padding: .3rem .9rem; border-radius: 6px;
              border: 1px solid #ced4da; background: #fff; cursor: pointer; }
.stp button:hover { border-color: #d9480f; color: #d9480f; }
.stp input[type=range] { flex: 1; accent-color: #d9480f; }
.stp .hint { font-size: calc(var(--font) * .75); color: #777; margin-top: .3rem; }
"""

#: What both browser players (this one and pages/_scatter.py) start with: the memory of the
#: step shown, and the helpers that build their tables and panels.
DOM_JS = r"""
const memory = new Map();  // per stepper: the step shown, kept while its data stay the same

// The step the user settles on goes back to the server (not each step while it plays), so
// the sidebar's "Add this view" and "Copy link" hold it; the server's echo is not a jump back.
function reporter(component, d, playing) {
  let t = null;
  const report = (step) => {
    if (t) clearTimeout(t);
    if (!d.report) return;  // a step no link or slide holds: the server need not hear of it
    t = setTimeout(() => {
      if (playing()) return;  // Pause (or the end) reports it
      const kept = memory.get(d.prefix);
      if (kept && kept.reported === step) return;
      if (kept) kept.reported = step;
      component.setStateValue("step", step);
    }, 700);
  };
  report.cancel = () => { if (t) { clearTimeout(t); t = null; } };
  return report;
}

// Streamlit calls a player's function again when its data change, without the previous
// call's clean-up: the one drawn before is silenced here, or its timer would go on playing
// (and reporting) on a page that no longer shows it.
const live = new Map();  // per stepper: how to silence the instance drawn last

function takeOver(prefix, cancel) {
  const before = live.get(prefix);
  if (before) before();
  live.set(prefix, cancel);
  return () => { if (live.get(prefix) === cancel) live.delete(prefix); cancel(); };
}

function remember(d, step) {
  const old = memory.get(d.prefix) || {};
  memory.set(d.prefix, { sig: d.signature, initial: d.step, step, reported: old.reported });
}

function startStep(d) {
  // the server's step (a link, a slide) wins, unless it is the echo of the one reported
  const kept = memory.get(d.prefix);
  const same = kept && kept.sig === d.signature;
  let step = same && (kept.initial === d.step || kept.reported === d.step) ? kept.step : d.step;
  step = Math.min(Math.max(step, 1), d.steps.length);
  memory.set(d.prefix, { sig: d.signature, initial: d.step, step, reported: d.step });
  return step;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// a table of values; cellCls(r, c) gives a cell's class; returns [table, cells by row]
function grid(values, cls, cellCls) {
  const t = el("table", cls), cells = [];
  values.forEach((row, r) => {
    const tr = el("tr"), line = [];
    row.forEach((v, c) => {
      const td = el("td", cellCls ? cellCls(r, c) : "", v);
      tr.appendChild(td); line.push(td);
    });
    t.appendChild(tr); cells.push(line);
  });
  return [t, cells];
}

function panel(title, table) {
  const p = el("div", "panel");
  p.appendChild(el("h4", "", title));
  p.appendChild(table);
  return p;
}
"""

JS = (
    DOM_JS
    + r"""
export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector(".stp") || parentElement;
  const d = data;
  const sig = d.signature;
  let step = startStep(d);
  const report = reporter(component, d, () => timer !== null);
  root.replaceChildren();
  root.className = "stp" + (d.presenter ? " big" : "");

  const row = el("div", "row");
  const inputs = d.inputs.map((g, i) => {
    const [t, cells] = grid(g.values, "in", (r, c) => (g.pad && g.pad[r][c] ? "pad" : ""));
    const padded = g.pad && g.pad.some(line => line.some(Boolean)) ? " (padded)" : "";
    row.appendChild(panel(d.inputs.length > 1 ? `input, channel ${i + 1}` : "input" + padded, t));
    return cells;
  });
  if (d.kernels.length) {
    row.appendChild(el("div", "sign", "∗"));
    d.kernels.forEach((k, i) => {
      const [t] = grid(k, "kernel");
      row.appendChild(panel(d.kernels.length > 1 ? `kernel, channel ${i + 1}` : "kernel", t));
    });
  }
  row.appendChild(el("div", "sign", "→"));
  const [outTable, outCells] = grid(d.output, "out");
  row.appendChild(panel(d.kind === "conv" ? "output" : `${d.kind} pooled`, outTable));
  root.appendChild(row);

  const label = el("div", "label");
  const eq = el("div", "eq");
  const bar = el("div", "bar");
  const buttons = {};
  for (const [name, text] of [["first", "« First"], ["back", "◀ Back"], ["play", "▶ Play"],
                              ["next", "Next ▶"]]) {
    buttons[name] = el("button", "", text);
    buttons[name].type = "button";
    buttons[name].dataset.action = name;
    bar.appendChild(buttons[name]);
  }
  const slider = el("input");
  slider.type = "range"; slider.min = 1; slider.max = d.steps.length; slider.step = 1;
  slider.setAttribute("aria-label", "Step");
  bar.appendChild(slider);
  root.appendChild(label); root.appendChild(eq); root.appendChild(bar);
  root.appendChild(el("div", "hint",
    "Click an output cell to jump to its step; hover one to see its window. Arrow keys step."));

  let timer = null, lit = [];
  const release = takeOver(d.prefix, () => {
    if (timer) { clearInterval(timer); timer = null; }
    report.cancel();
  });
  function clearLit() { lit.forEach(td => td.classList.remove("win", "best", "peek")); lit = []; }
  function windowCells(s, cls) {
    const cells = [];
    inputs.forEach(g => s.rows.forEach((r, i) => s.cols.forEach((c, j) => {
      const td = g[r][c];
      td.classList.add(cls);
      if (cls === "win" && s.win && s.win[0] === i && s.win[1] === j) td.classList.add("best");
      cells.push(td);
    })));
    return cells;
  }
  function writeUrl() {
    try {
      const url = new URL(window.location.href);
      if (step === 1) url.searchParams.delete(d.prefix + "_step");
      else url.searchParams.set(d.prefix + "_step", String(step));
      window.history.replaceState(window.history.state, "", url);
    } catch (e) { /* a sandboxed page keeps the step in memory only */ }
  }
  function show(n) {
    step = Math.min(Math.max(n, 1), d.steps.length);
    remember(d, step);
    clearLit();
    const s = d.steps[step - 1];
    lit = windowCells(s, "win");
    // a long 1-D input scrolls in its panel: bring the window's first cell into view
    const first = lit[0], box = first && first.closest(".panel");
    if (box && box.scrollWidth > box.clientWidth) {
      box.scrollLeft += first.getBoundingClientRect().left - box.getBoundingClientRect().left - 24;
    }
    const done = step - 1;
    d.steps.forEach((t, i) => {
      const td = outCells[t.out[0]][t.out[1]];
      td.classList.toggle("done", i < done);
      td.classList.toggle("now", i === done);
      td.textContent = i <= done ? d.output[t.out[0]][t.out[1]] : "";
    });
    const span = a => `${a[0]}–${a[a.length - 1]}`;
    label.textContent = d.nd === 1
      ? `Step ${step} of ${d.steps.length}: output position ${s.out[1]}; the window covers ` +
        `padded positions ${span(s.cols)}.`
      : `Step ${step} of ${d.steps.length}: output row ${s.out[0]}, column ${s.out[1]}; the ` +
        `window covers padded rows ${span(s.rows)} and columns ${span(s.cols)}.`;
    eq.textContent = s.eq;
    slider.value = step;
    root.dataset.step = String(step);
    writeUrl();
    report(step);
  }
  function stop() {
    const was = timer !== null;
    if (timer) { clearInterval(timer); timer = null; }
    buttons.play.textContent = "▶ Play";
    if (was) report(step);  // where Pause (or the end) left it
  }
  function play() {
    if (timer) { stop(); return; }
    if (step >= d.steps.length) show(1);
    buttons.play.textContent = "‖ Pause";
    timer = setInterval(() => {
      if (step >= d.steps.length) { stop(); return; }
      show(step + 1);
    }, d.ms);
  }
  buttons.first.onclick = () => { stop(); show(1); };
  buttons.back.onclick = () => { stop(); show(step - 1); };
  buttons.next.onclick = () => { stop(); show(step + 1); };
  buttons.play.onclick = play;
  slider.oninput = () => { stop(); show(Number(slider.value)); };
  root.tabIndex = 0;
  root.onkeydown = (e) => {
    if (e.key === "ArrowRight") { stop(); show(step + 1); e.preventDefault(); }
    if (e.key === "ArrowLeft") { stop(); show(step - 1); e.preventDefault(); }
  };
  const stepOf = new Map();
  d.steps.forEach((t, i) => stepOf.set(t.out[0] + "," + t.out[1], i + 1));
  let peeked = [];
  outCells.forEach((line, r) => line.forEach((td, c) => {
    const n = stepOf.get(r + "," + c);
    if (!n) return;
    td.dataset.step = String(n);
    td.onclick = () => { stop(); show(n); };
    td.onmouseenter = () => { peeked = windowCells(d.steps[n - 1], "peek"); };
    td.onmouseleave = () => { peeked.forEach(x => x.classList.remove("peek")); peeked = []; };
  }));
  show(step);
  return release;  // unmounted: silent, nothing more to report
}
"""
)

_component = st.components.v2.component(
    "cnn_instant_stepper", html='<div class="stp"></div>', css=CSS, js=JS
)


def player_data(prefix: str, frames: dict, *, ms_per_step: int, report: bool = True) -> dict:
    """What a browser step player is sent: ``frames`` with the step to start at (from
    ``st.session_state[f"{prefix}_step"]``, 1-based; a link sets it), the play speed,
    presenter mode, a signature that tells the player when the frames changed, and whether
    it tells the server the step it settles on (``report``: where a link or a slide holds
    the step; each report reruns the page)."""
    key = f"{prefix}_step"
    n = len(frames["steps"])
    start = st.session_state.get(key, 1)
    start = min(max(int(start) if isinstance(start, int) else 1, 1), n)
    st.session_state[key] = start
    signature = str(hash(json.dumps(frames, sort_keys=True)))
    return {**frames, "prefix": prefix, "step": start, "ms": ms_per_step,
            "presenter": presenter(), "signature": signature, "report": report}  # fmt: skip


def took_step(prefix: str, key: str) -> None:
    """The step a browser player settled on becomes the page's (and its link's)."""
    state = st.session_state.get(key) or {}
    step = state.get("step") if hasattr(state, "get") else None
    if isinstance(step, int) and not isinstance(step, bool) and 1 <= step <= 100_000:
        st.session_state[f"{prefix}_step"] = step


def instant_stepper(prefix: str, frames: dict, *, ms_per_step: int = 700,
                    report: bool = True) -> None:  # fmt: skip
    """Draw the browser-side step player for ``frames`` (core.explain.frames.step_frames);
    ``report``: the step it settles on is the page's (a setting in its link)."""
    key = f"{prefix}_instant"
    _component(data=player_data(prefix, frames, ms_per_step=ms_per_step, report=report), key=key,
               on_step_change=lambda: took_step(prefix, key))  # fmt: skip


def export_buttons(prefix: str, frames: dict, *, name: str) -> None:
    """Download the animation as a GIF and one step as a PNG, for slides."""
    from core.figures.animate import MAX_FRAMES, step_png, steps_gif

    n = len(frames["steps"])
    with st.expander("Export for slides", icon=":material/download:"):
        c1, c2, c3 = st.columns([2, 1, 2], vertical_alignment="bottom")
        if n <= MAX_FRAMES:
            c1.download_button(
                f"Animation of all {n} steps (GIF)",
                data=lambda: steps_gif(frames),  # made when clicked, not on every rerun
                file_name=f"{name}.gif",
                mime="image/gif",
                key=f"{prefix}_gif",
            )
        else:
            c1.caption(f"{n} steps are too many for an animation (at most {MAX_FRAMES}).")
        shown = min(max(int(st.session_state.get(f"{prefix}_step", 1)), 1), n)
        step = c2.number_input("Step", 1, n, shown, key=f"{prefix}_png_step")
        c3.download_button(
            f"Step {step} (PNG)",
            data=lambda: step_png(frames, int(step) - 1),
            file_name=f"{name}-step-{int(step)}.png",
            mime="image/png",
            key=f"{prefix}_png",
        )
