"""The Prometheus alert rules (deploy/prometheus/alerts.yml): valid for promtool, each made to fire
and not to fire by its unit tests (alerts_test.yml), and watching only metrics that exist.

promtool missing skips on a workstation and fails in CI (CI set): nothing passes by not running.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from ari_recorder import metrics

RULES = Path(__file__).parent.parent / "deploy" / "prometheus"
ALERTS, ALERT_TESTS = RULES / "alerts.yml", RULES / "alerts_test.yml"
# PromQL's own words: what is left of an expression once these, functions (a word before "("),
# label matchers, grouping labels, strings and durations are gone is metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
KEYWORDS |= {"and", "or", "unless", "inf", "nan"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is not installed (Debian: prometheus)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_promtool_finds_the_rules_valid() -> None:
    done = subprocess.run([promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in done.stdout


def test_promtool_unit_tests_make_each_alert_fire_and_not_fire() -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", ALERT_TESTS.name], capture_output=True, text=True, cwd=RULES
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    checks = [check for test in tests for check in test["alert_rule_test"]]
    for alert in alerts():
        mine = [check for check in checks if check["alertname"] == alert["alert"]]
        assert any(check["exp_alerts"] for check in mine), f"{alert['alert']} is never made to fire"
        assert any(not check["exp_alerts"] for check in mine), f"{alert['alert']} is never held quiet"


def alerts() -> list[dict[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_says_what_is_wrong_and_what_to_do() -> None:
    for alert in alerts():
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        assert alert["annotations"]["summary"] and len(alert["annotations"]["description"]) > 80


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads, found roughly: its words, less PromQL's own."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    words = {
        found.group(1)
        for found in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\(?)", expr)
        if not found.group(2)  # a function's name
    }
    return {word for word in words if word.lower() not in KEYWORDS}


def exposed() -> set[str]:
    """Every series name metrics.py's metrics are scraped as (a counter's _total, a histogram's
    _bucket, _count and _sum)."""
    names = set()
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        name = value._name
        if isinstance(value, Counter):
            names.add(f"{name}_total")
        elif isinstance(value, Histogram):
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        elif isinstance(value, Gauge):
            names.add(name)
    return names


def test_the_rough_parser_finds_the_names_and_only_them() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (instance, le) (rate(foo_bucket{a="x{y}"}[5m]))) > 0.5 '
        "and on (job) (max(bar) or vector(0)) < 1 unless baz offset 5m"
    )
    assert metric_names(expr) == {"foo_bucket", "bar", "baz"}


def test_every_metric_an_alert_watches_is_defined_in_metrics_py() -> None:
    defined = exposed()
    assert "ari_recorder_ari_connected" in defined and "ari_recorder_recording_gaps_total" in defined
    for alert in alerts():
        used = metric_names(alert["expr"])
        assert used, f"{alert['alert']}: no metric found in {alert['expr']!r}"
        unknown = used - defined
        assert not unknown, f"{alert['alert']} watches {sorted(unknown)}, which metrics.py does not define"
