"""Large-file ingest path: DuckDB's parallel CSV reader (rows numbered from insertion order)
and the SHA-256 + copy in a background thread. Forced on small files by lowering the size
thresholds, and checked on a file large enough for several reader threads."""

from __future__ import annotations

import duckdb
import pytest
from auth_support import add_accounts, me  # noqa: E402

import tests.test_ingest as basic
import tests.test_ingest_bad as bad
from analytics.ingest import ingest_file

ADMIN = me("admin")


@pytest.fixture
def large_path(monkeypatch):
    """Treat every file as large: parallel reader, numbering by file order, background hashing."""
    import analytics.ingest.base as base
    import analytics.ingest.loader as loader
    import analytics.ingest.validate as validate

    monkeypatch.setattr(base, "PADDED_READ_MAX_BYTES", 0)
    monkeypatch.setattr(loader, "BACKGROUND_HASH_MIN_BYTES", 0)
    monkeypatch.setattr(validate, "FAST_WRITE_MIN_BYTES", 0)


@pytest.fixture
def loaded(large_path, workspace, tmp_path):
    p = tmp_path / "seed.csv"
    p.write_text(bad.GOOD)
    ingest_file(workspace, p, "seed", actor=ADMIN)
    return workspace


@pytest.mark.parametrize("ext", [".csv", ".tsv"])
def test_round_trip(large_path, workspace, tmp_path, ext):
    basic.test_canonical_round_trip(workspace, tmp_path, ext)


def test_duplicates_and_updates(large_path, workspace, tmp_path):
    basic.test_duplicates_collapsed_and_updates_kept(workspace, tmp_path)


@pytest.mark.parametrize("times", list(basic.A_B_A_TIMES))
def test_a_b_a_keeps_the_last_answer(large_path, workspace, tmp_path, times):
    """Rows numbered from the parallel reader's insertion order: a -> b -> a still ends with a."""
    basic.test_a_b_a_keeps_the_last_answer_in_file_order(workspace, tmp_path, times, ".csv")


@pytest.mark.parametrize("times", list(basic.A_B_A_TIMES))
def test_a_b_a_across_files(large_path, workspace, tmp_path, times):
    basic.test_a_b_a_across_files_keeps_the_newest_file(workspace, tmp_path, times)


def test_quarantine_rows_numbered(large_path, workspace, tmp_path):
    basic.test_quarantine_keeps_reason_and_raw_row(workspace, tmp_path)


@pytest.mark.parametrize("case", [
    bad.test_not_utf8, bad.test_same_file_twice, bad.test_unparseable_timestamps_quarantined_rest_loaded,
    bad.test_every_row_bad_changes_nothing, bad.test_labels_outside_declared_set, bad.test_header_only,
])
def test_bad_input(loaded, tmp_path, case):
    case(loaded, tmp_path)


def test_bulk_settings_restored(large_path, workspace, tmp_path):
    settings = "SELECT current_setting('checkpoint_threshold'), current_setting('disabled_compression_methods')"
    before = workspace.con.execute(settings).fetchone()
    basic.test_canonical_round_trip(workspace, tmp_path, ".csv")
    assert workspace.con.execute(settings).fetchone() == before


def test_many_reader_threads_keep_file_order(workspace, tmp_path):
    """~30 MB, so DuckDB splits the read over several threads; every row keeps its file row,
    bad rows land in quarantine with theirs, repeats are collapsed or become updates."""
    n = 800_000
    path = tmp_path / "big.csv"
    con = duckdb.connect()
    con.execute(f"""COPY (
        SELECT 't' || i AS task, CASE WHEN i % 100003 = 7 THEN '' ELSE 'w' || (i % 977) END AS worker,
               'c' || (i % 3) AS label,
               CASE WHEN i % 200003 = 11 THEN 'not a time'
                    ELSE strftime(TIMESTAMP '2024-01-01' + to_seconds(i), '%Y-%m-%d %H:%M:%S') END AS submitted_at
        FROM range({n}) r(i)
        UNION ALL SELECT 't5', 'w5', 'c2', '2024-01-01 00:00:05'   -- exact repeat of row 6
        UNION ALL SELECT 't6', 'w6', 'c1', '2024-01-02 00:00:00'   -- a later answer to row 7
    ) TO '{path}' (HEADER)""")
    con.close()
    assert path.stat().st_size > 24 * 1024 * 1024
    s = ingest_file(workspace, path, "big", actor=ADMIN)
    bad_workers = len(range(7, n, 100003))
    bad_times = len(range(11, n, 200003))
    assert s.rows_read == n + 2
    assert s.quarantine_reasons == {"empty worker": bad_workers, "unparseable submitted_at": bad_times}
    assert (s.rows_duplicate, s.rows_updates) == (1, 1)
    assert s.rows_loaded == n + 1 - bad_workers - bad_times
    c = workspace.con
    wrong = c.execute("SELECT count(*) FROM annotations WHERE ingest_id = ? AND source_row <= ? "
                      "AND task <> 't' || (source_row - 1)", [s.ingest_id, n]).fetchone()[0]
    assert wrong == 0
    q = c.execute("SELECT source_row, reason, raw->>'task' FROM quarantine WHERE ingest_id = ? ORDER BY source_row",
                  [s.ingest_id]).fetchall()
    expected = sorted([(i + 1, "empty worker", f"t{i}") for i in range(7, n, 100003)]
                      + [(i + 1, "unparseable submitted_at", f"t{i}") for i in range(11, n, 200003)])
    assert q == expected
    assert c.execute("SELECT source_row, event FROM annotations WHERE ingest_id = ? AND task = 't6' "
                     "ORDER BY source_row", [s.ingest_id]).fetchall() == [(7, "create"), (n + 2, "update")]


def test_duplicates_found_by_grouping_too(monkeypatch, workspace, tmp_path):
    """Above SORT_CHECK_MAX_ROWS the repeated pairs are found by DuckDB's grouping alone."""
    import analytics.ingest.validate as validate

    monkeypatch.setattr(validate, "SORT_CHECK_MAX_ROWS", 0)
    basic.test_duplicates_collapsed_and_updates_kept(workspace, tmp_path)
    from analytics.store import open_workspace

    for times in basic.A_B_A_TIMES:
        with open_workspace(tmp_path / times / "ws") as ws:
            add_accounts(ws)
            basic.test_a_b_a_keeps_the_last_answer_in_file_order(ws, tmp_path / times, times, ".csv")
