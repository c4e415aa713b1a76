"""Agreement: chance-corrected agreement with intervals, worker x worker kappa, agreement by label."""

import streamlit as st

from analytics import options, results
from analytics.ingest import kinds
from analytics.results import fmt_interval
from app import charts, state

c = state.require_run("Agreement")

run = state.read(results.run_summary, c.run_id)
k = st.columns(3)
k[0].metric("Krippendorff's α (nominal)", fmt_interval(run["alpha"], None, None),
            help="Agreement corrected for chance across all workers and items; 1 = perfect, 0 = chance level.")
k[0].caption("95% interval: " + fmt_interval(run["alpha"], run["alpha_lo"], run["alpha_hi"]))
k[1].metric(run["kappa_name"], fmt_interval(run["kappa"], None, None),
            help="Chance-corrected agreement between raters; 1 = perfect, 0 = chance level.")
k[1].caption("95% interval: " + fmt_interval(run["kappa"], run["kappa_lo"], run["kappa_hi"]))
k[2].metric("Mean confidence of the consensus", fmt_interval(state.read(results.headline, c.run_id, c.project_id)
                                                             ["mean_confidence"], None, None))
if run["alpha"] is None:
    st.info("This run stored no agreement statistics; re-analyse on the Settings page to compute them.")
st.caption("Rough reading (Krippendorff 2004): α ≥ 0.8 reliable, 0.667–0.8 tentative conclusions only, "
           "below 0.667 unreliable.")

ctl = st.columns([2, 1, 2])
n = ctl[0].slider("Busiest workers in the matrix", 5, 60, 25, 5, key="a_top",
                  help="The heatmap shows Cohen's kappa between each pair of the most active workers.")
min_shared = ctl[1].number_input("Min. shared items per pair", min_value=2, value=5, step=1, key="a_min")
top = state.read(results.top_workers, c.run_id, n)
mat = state.read(results.agreement_matrix, c.run_id, c.project_id, n, int(min_shared))
st.plotly_chart(charts.kappa_heatmap(mat, top), key="kappa_heat")

kind, _ = state.read(kinds.project_kind, c.project_id)
if kind == "multilabel":
    st.caption("Multi-select answers: agreement is computed per option, each option a yes/no judgement on each "
               "item; α above is over all options together.")
    st.plotly_chart(charts.option_agreement(state.read(options.option_summary, c.run_id)), key="by_option")
elif kind == "item-specific":
    st.info("Answers are worded per item, so there are no shared labels to compare agreement by; α above counts "
            "two answers as agreeing when they are the same answer to the same item.")
else:
    st.plotly_chart(charts.agreement_by_label(state.read(results.agreement_by_label, c.run_id, c.project_id)),
                    key="by_label")
