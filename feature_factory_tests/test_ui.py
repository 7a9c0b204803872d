"""`feature-factory ui`: the command it runs, the report server beside it, report URLs, and the
partitions' optional end date."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from feature_factory import settings, ui


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_runs_dg_dev_on_the_code_location():
    cmd = ui.command("127.0.0.1", 3456)
    assert cmd[0].endswith("dg") and cmd[1:] == ["dev", "-m", "feature_factory.definitions",
                                                  "-h", "127.0.0.1", "-p", "3456"]


def test_report_server_serves_the_reports_folder_only(project_home, tmp_path):
    reports = settings.artifacts_dir("reports")
    (reports / "drift_2024-03-30_baseline_v1.html").write_text("<html>evidently</html>", encoding="utf-8")
    (project_home / "warehouse.duckdb").write_text("not for the browser")
    port = _free_port()
    server = ui.serve_reports(reports, "127.0.0.1", port)
    try:
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{url}/drift_2024-03-30_baseline_v1.html", timeout=10) as resp:
            assert resp.status == 200 and resp.read() == b"<html>evidently</html>"
        for missing in ("/nope.html", "/../warehouse.duckdb"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(url + missing, timeout=10)
            assert err.value.code == 404
        with pytest.raises(SystemExit, match=f"cannot serve the reports on 127.0.0.1:{port}"):
            ui.serve_reports(reports, "127.0.0.1", port)  # taken: a clear error, not a traceback
    finally:
        server.shutdown()
        server.server_close()


def test_report_urls(project_home, monkeypatch):
    report = settings.artifacts_dir("reports") / "drift_2024-03-30_baseline_v1.html"
    # No host or port: the UI's own address serves /reports/ (ui_front), whatever port it has now.
    assert settings.report_url(report) == "/reports/drift_2024-03-30_baseline_v1.html"
    monkeypatch.setenv("FEATURE_FACTORY_REPORTS_URL", "https://ff.example.com/reports/")
    assert settings.report_url(report) == "https://ff.example.com/reports/drift_2024-03-30_baseline_v1.html"
    assert settings.report_url(project_home / "elsewhere.html") is None


def test_partitions_end_date(monkeypatch):
    assert settings.end_date() is None
    monkeypatch.setenv("FEATURE_FACTORY_END_DATE", "2024-03-30")
    assert settings.end_date() == "2024-03-30"
    import dagster as dg

    from feature_factory import partitions
    bounded = dg.DailyPartitionsDefinition(start_date=settings.start_date(), end_date=partitions._end())
    keys = bounded.get_partition_keys()  # what daily_partitions is when loaded with this environment
    assert (keys[0], keys[-1], len(keys)) == ("2024-01-01", "2024-03-30", 90)
    monkeypatch.setenv("FEATURE_FACTORY_END_DATE", "2023-12-31")
    with pytest.raises(ValueError, match="FEATURE_FACTORY_END_DATE=2023-12-31 is before FEATURE_FACTORY_START_DATE"):
        settings.end_date()
    monkeypatch.setenv("FEATURE_FACTORY_END_DATE", "30.03.2024")
    with pytest.raises(ValueError, match="not a date in YYYY-MM-DD form"):
        settings.end_date()
