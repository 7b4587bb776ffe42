"""The explorer's slider preview in the browser (see :mod:`lrviz.explorer_preview` for what and why).

A ``st.components.v2`` component that draws nothing: it hands the page's previews to a small
script, installed once per browser tab, that watches every slider (its range input's
``aria-valuetext`` changes the moment the slider moves, before Streamlit's rerun request leaves). When the slider
it moved has an entry for the new position, the script swaps that curve's traces in the chart
(``Plotly.react`` with Streamlit's own plotly.js, ``window.Plotly``: nothing more is loaded) and
writes the readout card's LR and threshold line. The rerun then draws the same numbers, and
anything a preview does not cover (another curve's legend label, the tables) follows with it.

Only text nodes are written (their ``nodeValue``), so React, which owns those nodes, keeps them
and overwrites them with the rerun's values as usual.
"""

from __future__ import annotations

import json

import streamlit as st

from lrviz.explorer_preview import SliderPreview

_JS = r"""
function textNodeOf(el) {
  if (!el) return null;
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let found = null, n;
  while ((n = walker.nextNode())) {
    if (!n.nodeValue.trim()) continue;
    if (found) return null;  // more than one piece of text: not a plain value, leave it
    found = n;
  }
  return found;
}

function setText(el, text) {
  const node = textNodeOf(el);
  if (node && node.nodeValue !== text) node.nodeValue = text;
}

function sliderKey(thumb) {
  const box = thumb.closest('[class*="st-key-"]');
  if (!box) return null;
  const cls = [...box.classList].find(c => c.startsWith('st-key-'));
  return cls ? cls.slice('st-key-'.length) : null;
}

function show(P, thumb) {
  const d = P.data;
  const s = d && d.sliders[sliderKey(thumb)];
  if (!s) return;
  const value = Number(thumb.value);
  const e = s.entries.find(e => Math.abs(e.value - value) <= 1e-9 * Math.max(1, Math.abs(value)));
  if (!e) return;
  const gd = document.querySelector(d.chart);
  if (gd && gd.data && window.Plotly) {
    const tag = 'curve' + s.curve;
    const data = [];
    let swapped = false;
    for (const t of gd.data) {
      if (t.meta === tag || String(t.meta || '').startsWith(tag + ':')) {
        if (!swapped) { data.push(...e.traces); swapped = true; }
      } else {
        data.push(t);
      }
    }
    if (swapped) window.Plotly.react(gd, data, gd.layout);
  }
  const card = document.querySelector(d.card_prefix + s.card);
  if (card) {
    setText(card.querySelector('[data-testid="stMetricValue"]'), e.readout);
    setText(card.querySelector('[data-testid="stCaptionContainer"]'), e.note);
  }
}

function install() {
  const P = {data: null};
  new MutationObserver(mutations => {
    for (const m of mutations) {
      const el = m.target;
      // After this task: Streamlit's rerun request for the move leaves first, the preview
      // is drawn while Python computes.
      if (el.type === 'range') setTimeout(() => show(P, el), 0);
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['aria-valuetext']});
  return P;
}

export default function ({data}) {
  const P = window.__lrvizSliderPreview || (window.__lrvizSliderPreview = install());
  P.data = JSON.parse(new TextDecoder().decode(data));  // sent as bytes: see slider_preview()
  const mine = P.data;
  return () => { if (P.data === mine) P.data = null; };  // unmounted: previews for no page
}
"""

_component = st.components.v2.component("lrviz_slider_preview", js=_JS)


def slider_preview(previews: list[SliderPreview], *, key: str, widget_key, chart_key: str, card_key) -> None:
    """Mount the preview for ``previews``: ``widget_key(curve, param)`` is the slider's widget key,
    ``card_key(curve)`` the key of that curve's readout card, ``chart_key`` the chart's key."""
    sliders = {widget_key(p.curve, p.param): {"curve": p.curve, "card": card_key(p.curve), "entries": p.entries}
               for p in previews}
    data = {"sliders": sliders, "chart": f".st-key-{chart_key} .js-plotly-plot", "card_prefix": ".st-key-"}
    # JSON as bytes: Streamlit forwards bytes as they are, where a dict or a str is first checked
    # for dataframes, which imports pandas (about 0.3 s of the explorer's cold start).
    _component(key=key, data=json.dumps(data).encode(), height=0)
