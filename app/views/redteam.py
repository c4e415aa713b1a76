"""Red team: plant an attack into copies of this project, score how well the defences catch it,
and open an attacked copy in the other pages to see what a manager would have seen."""

import dataclasses
import inspect

import pandas as pd
import streamlit as st

from analytics.dataset import load_project
from analytics.errors import UserError
from analytics.pipeline import project_settings
from analytics.redteam.attacks import ATTACKS, PARAMS
from analytics.redteam.grid import parse_value, sweep
from analytics.redteam.scorecard import evaluate, format_table, pipeline_analyzer, summarize
from analytics.redteam.workspace import key_path, load_key
from app import charts, state

c = state.require_workspace()
st.title(f"Red team · {c.project}")

st.caption(
    "Plants attackers into copies of this project's labels (the project itself is never changed), runs the full "
    "analysis on each copy without gold, and scores it against the hidden answer key: how many planted workers "
    "are caught, how many honest ones are falsely flagged, and what the attack does to label accuracy with and "
    "without banning the flagged workers. Attacker volumes are drawn from this project's real workers.")

def _key_banner() -> None:
    if not key_path(c.ws, c.project).exists():
        return
    key = load_key(c.ws, c.project)
    with st.container(border=True):
        st.markdown(f"**This project is a red-team copy** of `{key['parent']}`: attack **{key['attack']}**, "
                    f"share {key['share']:g}, seed {key['seed']}, {key['n_planted']} planted or taken-over workers.")
        with st.expander("Show the answer key (never shown to the detectors)"):
            st.dataframe(pd.DataFrame(key["key"]), hide_index=True, width="stretch")
            if key["targets"]:
                st.dataframe(pd.DataFrame(key["targets"]), hide_index=True, width="stretch")


_key_banner()


@st.cache_data(show_spinner=False, max_entries=8)
def _data(ws: str, stamp: tuple, project_id: int):
    with state.connect(c.ws) as con:
        cur = con.cursor()          # a fresh cursor: the connection may hold a half-fetched result
        return load_project(cur, project_id), project_settings(cur, project_id)


def _param_inputs(attack: str) -> dict:
    """One input per field of the attack's parameter dataclass; returns only changed values."""
    if attack == "all":
        st.caption("Every attack in turn with its default parameters.")
        return {}
    cls = PARAMS[attack]
    st.caption(inspect.cleandoc(cls.__doc__ or "").replace("\n", " "))
    out = {}
    fields = dataclasses.fields(cls)
    cols = st.columns(max(min(len(fields), 3), 1))
    for i, f in enumerate(fields):
        col = cols[i % len(cols)]
        default = f.default
        key = f"rt_{attack}_{f.name}"
        if isinstance(default, bool):
            v = col.checkbox(f.name, value=default, key=key)
        elif isinstance(default, float):
            v = col.number_input(f.name, value=default, step=0.05, format="%.2f", key=key)
        elif isinstance(default, int):
            v = col.number_input(f.name, value=default, step=1, key=key)
        else:
            text = col.text_input(f.name, value="" if default is None else str(default), key=key,
                                  help="leave empty for the default")
            v = None if text.strip() == "" else parse_value(text)
            if isinstance(default, str) and v is not None:
                v = str(text).strip()
        if v != default:
            out[f.name] = v
    return out


attack = st.selectbox("Attack", [*ATTACKS, "all"], key="rt_attack",
                      help="random spammer, constant/pattern answerer, sloppy, class flipper, disguised "
                           "targeted attacker, colluding group, sybil swarm, burst bot, account takeover")
with st.form("redteam_form"):
    left, right = st.columns([1, 2])
    with left:
        share = st.slider("Attackers per original worker", 0.01, 0.5, 0.1, 0.01, key="rt_share")
        seeds = st.number_input("Seeds (repetitions)", 1, 20, 3, key="rt_seeds",
                                help="each seed plants a fresh set of attackers; results show the mean and a 95% interval")
        grid_on = st.checkbox("Sweep a parameter", key="rt_grid_on")
        grid_param = st.text_input("Parameter to sweep", "share", key="rt_grid_param",
                                   help="'share' or a parameter of the attack, e.g. gamma for 'disguised'")
        grid_vals = st.text_input("Values", "0.05, 0.1, 0.2", key="rt_grid_vals")
    with right:
        st.markdown("**Attack parameters**")
        params = _param_inputs(attack)
    submitted = st.form_submit_button("Run the red team", type="primary", icon=":material/play_arrow:")

if submitted:
    try:
        data, settings = _data(str(c.ws), state.stamp(c.ws), c.project_id)
        analyze = pipeline_analyzer(settings)
        with st.status(f"Red team on {c.project}: {attack}", expanded=True) as status:
            bar = st.progress(0.0, text="starting")

            def progress(frac: float, msg: str) -> None:
                bar.progress(min(max(float(frac), 0.0), 1.0), text=msg)

            grid = None
            if grid_on:
                values = [parse_value(v) for v in grid_vals.split(",") if v.strip()]
                grid, rows = sweep(data, attack, grid_param.strip(), values, share=share, seeds=int(seeds),
                                   analyze=analyze, progress=progress, **params)
            else:
                rows = evaluate(data, attack, share=share, seeds=int(seeds), analyze=analyze, progress=progress,
                                **params)
            status.update(label=f"Red team finished: {attack}, {int(seeds)} seed(s)", state="complete",
                          expanded=False)
        st.session_state["rt_result"] = {"project": c.project, "attack": attack, "share": share, "params": params,
                                         "rows": rows, "grid": grid, "grid_param": grid_param.strip()}
    except UserError as exc:
        state.user_error_box(exc)

res = st.session_state.get("rt_result")
if res and res["project"] == c.project:
    rows = res["rows"]
    if res["grid"] is not None and res["grid_param"] in rows.columns:
        gp = res["grid_param"]
        summary = summarize(rows, by=("attack", gp))
    else:
        summary = summarize(rows)
    st.subheader("Scorecard")
    st.caption("Mean over seeds with a 95% interval. PR-AUC and ROC-AUC rank planted workers against honest original "
               "workers by 1 − trust; the baseline ranks them by plain agreement with Dawid-Skene labels. "
               "Accuracy is on gold, which the analysis never sees.")
    st.dataframe(format_table(summary if res["grid"] is None else summarize(rows)), hide_index=True, width="stretch")
    if res["grid"] is None:
        st.plotly_chart(charts.detection_figure(summary), width="stretch")
    else:
        gp = res["grid_param"]
        a, b = st.columns(2)
        a.plotly_chart(charts.accuracy_figure(res["grid"], gp), width="stretch")
        b.plotly_chart(charts.success_figure(res["grid"], gp), width="stretch")
        st.dataframe(res["grid"], hide_index=True, width="stretch")
    st.download_button("Download per-seed results (CSV)", rows.to_csv(index=False).encode(),
                       file_name=f"redteam_{c.project}_{res['attack']}.csv", mime="text/csv")

st.subheader("Open an attacked copy")
st.caption("Stores one attacked copy (seed 0, the parameters above) as a new project of this workspace, analyses it, "
           "and switches every page to it: see what a manager would have seen. The answer key is kept in a file "
           "next to the workspace, not in the tables the detectors read.")
if st.button("Create and open the attacked copy", icon=":material/open_in_new:", key="rt_open"):
    if state.need_actor(c, "red-team copy"):
        from analytics.pipeline import analyze as run_analyze
        from analytics.redteam.workspace import inject_project

        attack_now = attack
        share_now = float(share)
        try:
            with st.status("Creating the attacked copy…", expanded=True) as status:
                bar = st.progress(0.0, text="planting the attack")
                with state.write_workspace(c.ws, create=False) as ws:
                    name = inject_project(ws, c.project, attack_now, share_now, 0, actor=c.actor,
                                          **(params if attack_now != "all" else {}))

                    def progress(frac: float, msg: str) -> None:
                        bar.progress(min(max(float(frac), 0.0), 1.0), text=f"analysing {name}: {msg}")

                    run_analyze(ws, name, actor=c.actor, progress=progress)
                status.update(label=f"Created and analysed {name}", state="complete", expanded=False)
        except UserError as exc:
            state.user_error_box(exc)
        else:
            st.session_state["_project_keep"] = name
            st.session_state.pop("project", None)
            st.query_params["project"] = name
            st.session_state["_flash"] = f"Now showing the red-team copy {name}; pick the original in the sidebar."
            try:
                st.switch_page("views/overview.py")
            except st.errors.StreamlitAPIException:   # page not registered (page-level test)
                st.rerun()
