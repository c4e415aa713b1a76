"""One verdict per worker, shown in one colour everywhere (see :data:`VERDICTS`), as SQL pieces.

- ``banned``  the newest project-scope or the newest workspace-scope ban/unban entry of
  the worker in the audit log is a ban (the rule of :mod:`analytics.actions`);
- ``suspect`` the run's trust verdict marked the worker suspect;
- ``watch``   not suspect, but at least one detector found a significant signal on the worker
  (the combined evidence did not reach the suspect threshold of :mod:`analytics.trust`), or
  their trust is below :data:`LOW_TRUST` and half the crowd's median trust (the reason then
  says "low trust"), so a worker shown ``trusted`` never has lower trust than one on ``watch``
  unless that one's reason (a significant detector) is shown beside it;
- ``trusted`` everything else.

A query joins ``banned`` (:data:`_BANNED_CTE`) and ``significant`` (:data:`_FIRED_CTE`, the
significant signals per worker) to ``run_workers w`` and selects :data:`_VERDICT_SQL` and
:data:`_REASONS_SQL`.
"""

from __future__ import annotations

#: Display order of worker verdicts (worst first).
VERDICTS: tuple[str, ...] = ("banned", "suspect", "watch", "trusted")


#: Trust below which a worker that no detector flagged is shown on ``watch`` ("low trust")
#: rather than ``trusted``: trust is chance-corrected agreement with the consensus (times one
#: minus the suspicion), and below 0.5 a worker agrees with it only moderately beyond chance.
LOW_TRUST: float = 0.5


#: ...or below this share of the crowd's median trust, whichever is lower: on a hard task where
#: the whole crowd sits below 0.5 the rule would describe the crowd, not single workers.
LOW_TRUST_OF_MEDIAN: float = 0.5


# The low-trust cutoff of a run (the lower of the two rules above).
_LOW_TRUST_SQL = (f"least({LOW_TRUST}, {LOW_TRUST_OF_MEDIAN} * (SELECT median(trust) FROM run_workers "
                  "WHERE run_id = $rid))")


_BANNED_CTE = """
banned AS (
    SELECT DISTINCT target AS worker FROM (
        SELECT target, action, row_number() OVER (PARTITION BY target, scope ORDER BY seq DESC) AS rn
        FROM actions
        WHERE target_kind = 'worker' AND action IN ('ban', 'unban')
          AND ((scope = 'project' AND project_id = $pid) OR scope = 'workspace')
    ) WHERE rn = 1 AND action = 'ban'
)"""


_VERDICT_SQL = f"""CASE WHEN b.worker IS NOT NULL THEN 'banned'
     WHEN w.suspect THEN 'suspect'
     WHEN coalesce(fs.n_significant, 0) > 0 OR w.trust < {_LOW_TRUST_SQL} THEN 'watch'
     ELSE 'trusted' END"""


# The reasons shown with a verdict: the run's sentence, with what put a worker on watch first
# when the run gave none (low trust, or the names of the detectors that fired).
_REASONS_SQL = f"""CASE
     WHEN b.worker IS NULL AND NOT coalesce(w.suspect, false) AND coalesce(fs.n_significant, 0) = 0
          AND w.trust < {_LOW_TRUST_SQL}
     THEN printf('low trust %.2f (below %.2f, the lower of {LOW_TRUST:.1f} and half the crowd''s median): agrees '
                 'with the consensus little beyond chance', w.trust, {_LOW_TRUST_SQL})
          || coalesce('; ' || nullif(w.reasons, ''), '')
     WHEN nullif(w.reasons, '') IS NULL AND coalesce(fs.n_significant, 0) > 0 THEN 'detector fired: ' || fs.significant_signals
     ELSE w.reasons END"""


# Per worker, the signals the run counted as significant. The stored column ``run_signals.fired``
# holds exactly that (the pipeline writes the verdict's ``significant``, not a detector's raw
# ``fired``); it keeps its name in the schema, and the read API calls it ``significant``.
_FIRED_CTE = """
significant AS (
    SELECT worker, count(*) FILTER (WHERE fired) AS n_significant,
           string_agg(signal, ', ' ORDER BY signal) FILTER (WHERE fired) AS significant_signals
    FROM run_signals WHERE run_id = $rid AND signal <> 'verdict' GROUP BY worker
)"""
