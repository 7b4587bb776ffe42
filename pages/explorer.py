"""Schedule Explorer: see a learning-rate schedule before spending an hour training.

Reads widgets -> calls lrviz -> renders. No math and no file I/O here; no TensorFlow import.
"""

from __future__ import annotations

import streamlit as st

from lrviz import explorer as ex
from lrviz.charts import PALETTE, schedule_figure
from lrviz.explorer_preview import slider_previews
from lrviz.schedules import REGISTRY, Schedule
from ui import plateau_replay
from ui.links import copy_link
from ui.navigation import ensure_app_navigation  # noqa: E402
from ui.page_state import KEEP, publish, receive
from ui.schedule_editor import load_widgets, schedule_editor, schedule_from_state
from ui.slider_preview import slider_preview
from ui.text import plain

ensure_app_navigation()
S = st.session_state


# --------------------------------------------------------------------------- state


def _init_state() -> None:
    """Once per session: the view comes from the URL (a shared link) or the defaults."""
    if "ex_state" in S:
        return
    query = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    state, warnings = ex.ExplorerState.from_query(query)
    S.ex_state = state
    S.ex_warnings = warnings
    S.ex_next_id = 0
    S.ex_curve_ids = []
    S.ex_last_valid = {}  # curve id -> its last valid Schedule, shown while its editor has an error
    for sched in state.curves:
        _add_curve_widgets(sched)


def _restore_editors() -> None:
    """Every curve's editor keys exist on every run (its last valid schedule where one is missing)."""
    for cid in S.ex_curve_ids:
        if f"ex_{cid}_name" not in S:
            load_widgets(f"ex_{cid}", S.ex_last_valid[cid])


def _add_curve_widgets(sched: Schedule) -> None:
    cid = S.ex_next_id
    S.ex_next_id += 1
    S.ex_curve_ids.append(cid)
    S.ex_last_valid[cid] = sched
    load_widgets(f"ex_{cid}", sched)


def _remove_curve(cid: int) -> None:
    S.ex_curve_ids.remove(cid)
    S.ex_last_valid.pop(cid, None)


def _add_curve() -> None:
    _add_curve_widgets(Schedule.create(S.ex_new_schedule))


def _validated(field: str, check, *args):
    try:
        return check(S[field], *args)
    except ValueError as e:
        st.error(str(e))
        return None


# --------------------------------------------------------------------------- page

_init_state()
_restore_editors()
state: ex.ExplorerState = S.ex_state
for config in receive("explorer", "curve"):  # curves sent here by other pages (e.g. an LR range test)
    if len(S.ex_curve_ids) < ex.MAX_CURVES:
        _add_curve_widgets(Schedule.from_config(config))

st.title("Schedule Explorer")
st.markdown(
    "See what a learning-rate schedule does before you train with it. Epochs are **1-based, as Keras "
    "prints them**: *Epoch 15/40* runs at the LR computed for index 14."
)
for w in S.ex_warnings:
    st.warning(plain(w))  # echoes the shared link's text: data, not Markdown

with st.sidebar:
    st.header("Timeline")
    S.setdefault("ex_epochs", state.epochs)
    S.setdefault("ex_train_size", state.train_size)
    S.setdefault("ex_batch_size", state.batch_size)
    st.number_input("Epochs", step=1, key="ex_epochs", help="1 to 1000.", **KEEP)
    epochs = _validated("ex_epochs", ex.validate_epochs)
    st.number_input("Training images (N)", step=1000, key="ex_train_size",
                    help="With the batch size, sets batches per epoch = ceil(N / batch). CIFAR-10 has 50,000.", **KEEP)
    train_size = _validated("ex_train_size", ex.validate_train_size)
    st.number_input("Batch size", step=1, key="ex_batch_size", help="The tutorial uses 64.", **KEEP)
    batch_size = _validated("ex_batch_size", ex.validate_batch_size)
    S.setdefault("ex_log_y", state.log_y)
    S.setdefault("ex_per_batch", state.per_batch)
    st.toggle("Log-scale LR axis", key="ex_log_y", **KEEP)
    st.toggle("Per-batch resolution", key="ex_per_batch",
              help="Draw smooth schedules batch by batch (what the optimizer sees) instead of per epoch.", **KEEP)

epochs = epochs or state.epochs
state.epochs = epochs
if train_size and batch_size:
    state.train_size, state.batch_size = train_size, batch_size
spe = state.steps_per_epoch
st.sidebar.caption(f"{spe:,} batches per epoch · {spe * epochs:,} batches in all")
state.log_y, state.per_batch = S.ex_log_y, S.ex_per_batch


# Layout that works from 800 px (sidebar open, ~470 px of page) to 1440 px: the view and the
# editors wrap onto two rows when both don't fit side by side, readout cards flow, and each
# readout and editor carries its curve's chart colour on its left edge. Streamlit can't know the
# screen's width on the server, so the CSS does the choosing.
EDITORS_WIDTH = 440  # px: two parameter cells of ui.schedule_editor.PARAM_WIDTH side by side
LAYOUT_CSS = """
div:has(> .st-key-ex_view) { flex: 1 1 26rem; min-width: min(100%, 26rem); }
div:has(> [class*="st-key-ex_rcard_"]) { flex: 1 1 13rem; min-width: 13rem; }
.st-key-ex_readouts [data-testid="stMetricLabel"] * { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; }
.st-key-ex_readouts [data-testid="stMetricValue"] { font-size: 1.75rem; }
"""


def _curve_css(curve_ids: list[int]) -> str:
    """A left edge in the chart's colour for each readout and editor (colour = position)."""
    rules = []
    for i, cid in enumerate(curve_ids):
        colour = PALETTE[i % len(PALETTE)]
        rules.append(f".st-key-ex_rcard_{i}, .st-key-ex_card_{cid} {{ border-left: 6px solid {colour}; "
                     "padding-left: 0.6rem; border-radius: 4px; }")
    return "<style>" + LAYOUT_CSS + "\n".join(rules) + "</style>"


@st.fragment
def explorer_body(state: ex.ExplorerState, epochs: int, spe: int) -> None:
    """Readout and chart first (they are what a slider move is for), then the editors, then
    the open tab only. A fragment: moving a slider re-sends this part, not the sidebar; and
    before that, the slider preview (ui.slider_preview) has drawn the readout and the chart
    from the numbers this run sent for the slider's nearby positions."""
    cids = list(S.ex_curve_ids)
    titles = [f"Schedule {i + 1}" for i in range(len(cids))]
    parsed = [schedule_from_state(f"ex_{cid}")[0] for cid in cids]
    curves, stale = ex.keep_last_valid(parsed, [S.ex_last_valid[cid] for cid in cids])
    for cid, sched in zip(cids, parsed):
        if sched is not None:
            S.ex_last_valid[cid] = sched
    state.curves = curves
    S.setdefault("ex_readout_epoch", min(state.readout_epoch, epochs))
    S.setdefault("ex_threshold", state.threshold)
    readout = ex.resolve_readout_epoch(S.ex_readout_epoch, epochs, state.readout_epoch)
    state.readout_epoch = readout.epoch
    try:
        state.threshold = ex.validate_threshold(S.ex_threshold)
    except ValueError:
        pass

    st.html(_curve_css(cids))
    body = st.container(horizontal=True, gap="large", key="ex_body")
    view = body.container(key="ex_view")
    with view:
        labels = ex.curve_labels(curves)
        heading = f"**LR at epoch {readout.epoch}** of {epochs}"
        st.markdown(heading + (f" — {readout.note}" if readout.note else ""))
        cards = st.container(horizontal=True, key="ex_readouts")
        for i, (label, sched) in enumerate(zip(labels, curves)):
            card = cards.container(key=f"ex_rcard_{i}", width="stretch")
            card.metric(label, ex.format_lr(ex.lr_at(sched, readout.epoch, spe)), help=sched.label())
            card.caption(ex.threshold_readout(sched, state.threshold, epochs, spe))
            if stale[i]:
                card.caption(f":orange[{ex.stale_note(titles[i])}]")
        # Before the editors: on a cold start the chart's chunk of JavaScript is asked for first.
        st.plotly_chart(schedule_figure(curves, epochs, spe, per_batch=state.per_batch, log_y=state.log_y,
                                        readout_epoch=readout.epoch), key="ex_chart", config={"displaylogo": False})
        rrow = st.container(horizontal=True)
        with rrow.container(width=220):
            st.number_input("LR at epoch (1-based)", step=1, key="ex_readout_epoch", **KEEP)
            _validated("ex_readout_epoch", ex.validate_readout_epoch, epochs)
        with rrow.container(width=220):
            st.number_input("First epoch where LR ≤", step=0.0001, format="%.6g", key="ex_threshold", **KEEP)
            _validated("ex_threshold", ex.validate_threshold)

    with body.container(width=EDITORS_WIDTH, key="ex_editors"):
        st.subheader("Schedules")
        for title, cid in zip(titles, cids):
            with st.container(key=f"ex_card_{cid}"):
                schedule_editor(f"ex_{cid}", title, on_remove=lambda cid=cid: _remove_curve(cid),
                                can_remove=len(cids) > 1)
        add_row = st.container(horizontal=True, vertical_alignment="bottom")
        add_row.selectbox("Add a schedule to compare", list(REGISTRY), key="ex_new_schedule",
                          format_func=lambda n: REGISTRY[n].title, index=list(REGISTRY).index("cosine"), **KEEP)
        add_row.button("Add", on_click=_add_curve, disabled=len(cids) >= ex.MAX_CURVES,
                       width="content", help=f"Up to {ex.MAX_CURVES} schedules.")

    # The chart and readouts at each slider's nearby positions, shown the moment a slider moves.
    slider_preview(slider_previews(curves, epochs, spe, per_batch=state.per_batch, readout_epoch=readout.epoch,
                                   threshold=state.threshold, stale=stale),
                   key="ex_slider_preview", widget_key=lambda i, param: f"ex_{cids[i]}_{param}", chart_key="ex_chart",
                   card_key=lambda i: f"ex_rcard_{i}")

    # Only the open tab is computed and sent (tables and code are heavy for every slider move).
    tab_code, tab_table, tab_decay = st.tabs(["Keras code & formulas", "LR per epoch", "What happened to decay=?"],
                                             key="ex_tabs", on_change="rerun")
    if tab_code.open:
        with tab_code:
            for label, sched in zip(labels, curves):
                st.markdown(f"**{label}** — {sched.spec.summary}")
                st.latex(sched.spec.latex)
                st.code(sched.keras_code(spe), language="python")
    if tab_table.open:
        with tab_table:
            table = ex.lr_table(curves, epochs, spe)
            st.dataframe(table, hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(format="%.6g") for c in table.columns[1:]})
            st.download_button("Download CSV", table.to_csv(index=False).encode(), file_name="lr_schedule.csv",
                               mime="text/csv", key="ex_download")
    if tab_decay.open:
        with tab_decay:
            st.markdown(DECAY_EXPLAINER)
            # A static table: its cells wrap, so at 800 px every column reads whole (a dataframe
            # scrolled the two LR columns out of view behind the long text).
            readings = ex.legacy_decay_readings(epochs=epochs, steps_per_epoch=spe)
            lr_columns = [c for c in readings.columns if c.startswith("LR ")]
            st.table(readings.style.format({c: ex.format_lr for c in lr_columns}), hide_index=True)

    # The URL mirrors the view, so a copied link reproduces it.
    st.query_params.from_dict(state.to_query())
    copy_link(state.share_link(st.context.url), "this view")
    # The Train page offers these curves as the schedule to train with.
    publish("explorer_curves", [c.to_config() for c in state.curves])


DECAY_EXPLAINER = (
    "The tutorial compiles `SGD(learning_rate=0.01, decay=0.01/40)`. **Keras 3 ignores `decay`** "
    "(it only warns), so that line now trains at a constant 0.01. Keras 2 applied it *per batch*: "
    "`lr / (1 + decay · t)` with t = batches seen, so with 782 batches per epoch the LR fell to about "
    "0.00113 after 40 epochs. The tutorial's text describes a per-epoch recursion instead. The exact "
    "Keras 3 replacement is `SGD(learning_rate=keras.optimizers.schedules.InverseTimeDecay(0.01, "
    "decay_steps=1, decay_rate=0.00025))`."
)

explorer_body(state, epochs, spe)
plateau_replay.section()
