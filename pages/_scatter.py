"""The scatter player for a transposed convolution, in the browser like pages/_instant.py:
every stamp is sent once (core.explain.transposed.step_frames); Play, Back, Next, the slider,
the arrow keys, a click on an input cell (its stamp) and a hover over one answer at once.

The step is kept in the page's URL (``?<prefix>_step=N``) as it moves."""

from __future__ import annotations

import streamlit as st

from pages._instant import CSS as STEPPER_CSS
from pages._instant import DOM_JS, player_data, took_step

CSS = (
    STEPPER_CSS
    + """
.stp td.crop { background: repeating-linear-gradient(45deg, #f1f3f5, #f1f3f5 5px, #e3e6ea 5px,
               #e3e6ea 10px); border: 2px dashed #adb5bd; color: #868e96; }
.stp td.crop.win { background: repeating-linear-gradient(45deg, #ffd8a8, #ffd8a8 5px,
                   #f6c08a 5px, #f6c08a 10px); border: 2px dashed #d9480f; color: #7c2d12; }
.stp .in td { cursor: pointer; }
.stp .in td:hover { box-shadow: inset 0 0 0 3px #0b7285; }
"""
)

JS = (
    DOM_JS
    + r"""
export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector(".stp") || parentElement;
  const d = data, n = d.steps.length;
  let step = startStep(d);
  const report = reporter(component, d, () => timer !== null);
  root.replaceChildren();
  root.className = "stp" + (d.presenter ? " big" : "");

  const row = el("div", "row");
  const [inTable, inCells] = grid(d.input, "in");
  row.appendChild(panel("input", inTable));
  row.appendChild(el("div", "sign", "×"));
  row.appendChild(panel("kernel", grid(d.kernel, "kernel")[0]));
  row.appendChild(el("div", "sign", "→"));
  const blank = d.kept.map(line => line.map(() => ""));
  const [canvasTable, canvasCells] = grid(blank, "canvas", (r, c) => d.kept[r][c] ? "" : "crop");
  row.appendChild(panel("stamps added up (hatched: cropped)", canvasTable));
  row.appendChild(el("div", "sign", "="));
  const [outTable, outCells] = grid(d.output.map(line => line.map(() => "")), "out");
  row.appendChild(panel("output so far", outTable));
  root.appendChild(row);

  const label = el("div", "label"), eq = el("div", "eq"), bar = el("div", "bar");
  const buttons = {};
  for (const [name, text] of [["first", "« First"], ["back", "◀ Back"], ["play", "▶ Play"],
                              ["next", "Next ▶"]]) {
    buttons[name] = el("button", "", text);
    buttons[name].type = "button";
    buttons[name].dataset.action = name;
    bar.appendChild(buttons[name]);
  }
  const slider = el("input");
  slider.type = "range"; slider.min = 1; slider.max = n; slider.step = 1;
  slider.setAttribute("aria-label", "Step");
  bar.appendChild(slider);
  root.appendChild(label); root.appendChild(eq); root.appendChild(bar);
  root.appendChild(el("div", "hint",
    "Click an input cell to jump to its stamp; hover one to see where it lands. Arrow keys step."));

  let timer = null, lit = [];
  const release = takeOver(d.prefix, () => {
    if (timer) { clearInterval(timer); timer = null; }
    report.cancel();
  });
  function stampCells(s, cls) {
    const cells = s.cells.map(([r, c]) => canvasCells[r][c]);
    cells.forEach(td => td.classList.add(cls));
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
  function show(k) {
    step = Math.min(Math.max(k, 1), n);
    remember(d, step);
    lit.forEach(td => td.classList.remove("win", "now"));
    const s = d.steps[step - 1];
    const src = inCells[s.src[0]][s.src[1]];
    src.classList.add("win");
    lit = [src, ...stampCells(s, "win")];
    s.canvas.forEach((line, r) => line.forEach((v, c) => { canvasCells[r][c].textContent = v; }));
    const last = step === n;
    outCells.forEach((line, r) => line.forEach((td, c) => {
      td.textContent = s.out[r][c];
      td.classList.toggle("done", last);
    }));
    const rows = s.cells.map(x => x[0]), cols = s.cells.map(x => x[1]);
    label.textContent = `Step ${step} of ${n}: input row ${s.src[0]}, column ${s.src[1]} ` +
      `stamps the kernel onto rows ${Math.min(...rows)}–${Math.max(...rows)} and columns ` +
      `${Math.min(...cols)}–${Math.max(...cols)} of the stamps` +
      (last ? "; the output is what the cropping keeps (plus the bias)." : ".");
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
    if (step >= n) show(1);
    buttons.play.textContent = "‖ Pause";
    timer = setInterval(() => { if (step >= n) { stop(); return; } show(step + 1); }, d.ms);
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
  let peeked = [];
  d.steps.forEach((s, i) => {
    const td = inCells[s.src[0]][s.src[1]];
    td.dataset.step = String(i + 1);
    td.onclick = () => { stop(); show(i + 1); };
    td.onmouseenter = () => { peeked = stampCells(s, "peek"); };
    td.onmouseleave = () => { peeked.forEach(x => x.classList.remove("peek")); peeked = []; };
  });
  show(step);
  return release;  // unmounted: silent, nothing more to report
}
"""
)

_component = st.components.v2.component(
    "cnn_scatter_stepper", html='<div class="stp"></div>', css=CSS, js=JS
)


def scatter_stepper(prefix: str, frames: dict, *, ms_per_step: int = 900) -> None:
    """Draw the browser-side player for ``frames`` (core.explain.transposed.step_frames)."""
    key = f"{prefix}_scatter"
    _component(data=player_data(prefix, frames, ms_per_step=ms_per_step), key=key,
               on_step_change=lambda: took_step(prefix, key))  # fmt: skip
