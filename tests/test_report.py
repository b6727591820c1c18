"""The HTML run report, built from the real files of a small run (training, an FGSM attack, a Data/MC selection).

Every number in a table carries the key path of its value in the JSON named by the table; the tests resolve
those paths and compare, in Python and in a real browser (headless Chromium through Playwright, skipped with a
reason where no Chromium is installed; ``.ci/run`` installs Debian's).
"""

from __future__ import annotations

import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hepadv.cli.main import build_app
from hepadv.errors import HepadvError
from hepadv.report import write_report

CHROMIUM = os.environ.get("HEPADV_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: Flags that run Chromium headless in a container: no sandbox (root), no GPU, no background traffic.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path, session_cache: Path) -> Path:
    """A copy of the tiny run evaluated with plots at every epoch, attacked with FGSM, with a Data/MC selection."""
    from hepadv.attacks.runner import run_attack
    from hepadv.datamc.run import run_datamc
    from hepadv.evaluation.runner import evaluate_run
    from hepadv.registry.manager import build
    from hepadv.runs import Run
    from tests.test_datamc import card as datamc_card

    base = tmp_path_factory.mktemp("report")
    run = base / "adv"
    shutil.copytree(tiny_run, run)
    with pytest.MonkeyPatch.context() as mp:  # module fixtures run before the autouse isolation
        mp.setenv("HEPADV_LOAD_PLUGINS", "")
        mp.setenv("HEPADV_CACHE_DIR", str(session_cache))
        card = Run(run).recorded_card(["evaluation.plots=true", "evaluation.every_epoch=true",
                                       "evaluation.transfer=true", "evaluation.discriminators=[BvsL, CvsL]"])
        evaluate_run(card, run_dir=run, progress=False)
        run_attack(card, build("attack", "fgsm", {"epsilon": 0.05}), run_dir=run, max_events=400)
        tagger = {"run": str(run), "variants": ["nominal"], "checkpoints": "all"}  # KL vs epoch; fewer plots
        run_datamc(datamc_card(base / "datamc", run, taggers=[tagger], chunksize=5000, plots=True,
                               distortions=[{"name": "fgsm", "params": {"epsilon": 0.01}}],
                               output=str(run / "datamc" / "dy")), progress=False)
        write_report(run)
    return run


class _Cells(HTMLParser):
    """Keyed table cells, section ids and image paths of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, Any]] = []
        self.sections: list[str] = []
        self.images: list[str] = []
        self._table: dict[str, str] = {}
        self._cell: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = {"table": a.get("id") or "", "source": a.get("data-source") or ""}
        elif tag == "td" and "data-key" in a:
            self._cell = {**self._table, "key": a["data-key"], "value": a["data-value"], "text": "",
                          "err_key": a.get("data-err-key"), "err": a.get("data-err"), "cls": a.get("class") or ""}
        elif tag == "section":
            self.sections.append(a.get("id") or "")
        elif tag == "img" and a.get("data-path"):
            self.images.append(a["data-path"] or "")

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None


def parse(report: Path) -> _Cells:
    parser = _Cells()
    parser.feed(report.read_text())
    return parser


def _get(data: Any, key: list[Any]) -> Any:
    for k in key:
        data = data[k]
    return data


def _shown_equals(shown: str, value: float) -> bool:
    """The printed number equals the JSON value to the digits printed."""
    shown = shown.replace(",", "").replace("+", "").strip()
    digits = len(shown.split(".")[1]) if "." in shown else 0
    return abs(float(shown) - value) <= 0.5 * 10.0 ** -digits * (1 + 1e-9)


def check_cells(run: Path, cells: list[dict[str, Any]]) -> int:
    """Every keyed cell shows the value at its key in its table's source JSON (exactly in data-value, to the
    printed digits in the text); returns how many were checked."""
    files: dict[str, Any] = {}
    for c in cells:
        assert c["source"], f"table {c['table']}: numbers without a source file"
        data = files.setdefault(c["source"], json.loads((run / c["source"]).read_text()))
        want = _get(data, json.loads(c["key"]))
        where = f"{c['table']} {c['key']} in {c['source']}"
        assert float(c["value"]) == want, where
        value_text, _, err_text = c["text"].partition(" ± ")
        assert _shown_equals(value_text, want), f"{where}: shows {c['text']!r} for {want}"
        if c["err_key"]:
            err = _get(data, json.loads(c["err_key"]))
            assert float(c["err"]) == err and _shown_equals(err_text, err), where
        else:
            assert not err_text, where
    return len(cells)


def test_report_has_a_section_for_what_exists_and_its_numbers_are_the_json(study: Path) -> None:
    page = parse(study / "report.html")
    assert page.sections == ["provenance", "training", "attacks", "datamc"]  # no defence study, no export
    assert check_cells(study, page.cells) > 200
    tables = {c["table"] for c in page.cells}
    attack = next((study / "attacks").iterdir()).name
    for table in ("auc", "raw-check", "auc-per-epoch", f"fr-{attack}", f"attack-auc-{attack}", "kl-dy",
                  "kl-epoch-dy", "cutflow-dy", "history-nominal"):
        assert table in tables, table
    assert any(t.startswith("transfer-") for t in tables)
    # every plot of the run is in the page, embedded
    pngs = sorted(str(p.relative_to(study)) for p in study.rglob("*.png"))
    assert sorted(page.images) == pngs and len(pngs) > 30
    html = (study / "report.html").read_text()
    assert "http://" not in html and "https://" not in html and 'src="data:image/png;base64,' in html


def test_drop_ratios_that_miss_are_shown_as_misses(study: Path) -> None:
    metrics = json.loads((study / "metrics.json").read_text())
    page = parse(study / "report.html")
    ratios = [c for c in page.cells if c["table"] == "auc" and '"drop_ratio"' in c["key"]]
    assert ratios and len(ratios) == sum(len(per["drop_ratio"]) for check in metrics["comparison"]["checks"].values()
                                         for per in check["attacks"].values() if per["drop_ratio"])
    for c in ratios:  # green where the check passes, red where it misses: misses are shown, not dropped
        _, _, variant, _, attack, _, disc = json.loads(c["key"])
        ok = metrics["comparison"]["checks"][variant]["attacks"][attack]["drop_at_most_half"][disc]
        assert c["cls"] == ("pass" if ok else "miss"), c


def test_kl_uncertainties_print_where_the_json_has_them(study: Path, tmp_path: Path) -> None:
    results = json.loads((study / "datamc" / "dy" / "results.json").read_text())
    tagger = next(t for t in results["divergences"] if "@e" not in t)
    entry = results["divergences"][tagger]["BvsL"]["raw"]
    variant = next(iter(results["kl_vs_epoch"]))
    point = results["kl_vs_epoch"][variant]["raw"]["BvsL"][0]
    assert entry["kl_stat"]["std"] > 0 and point["std"] > 0  # the bootstrap replicas give them
    (tmp_path / "run" / "datamc" / "dy").mkdir(parents=True)
    (tmp_path / "run" / "datamc" / "dy" / "results.json").write_text(json.dumps(results))
    page = parse(write_report(tmp_path / "run"))
    assert page.sections == ["datamc"]
    check_cells(tmp_path / "run", page.cells)
    with_err = {(c["table"], tuple(json.loads(c["key"]))): c for c in page.cells if c["err_key"]}
    kl = with_err[("kl-dy", ("divergences", tagger, "BvsL", "raw", "kl"))]
    assert json.loads(kl["err_key"])[-2:] == ["kl_stat", "std"]
    assert kl["text"] == f"{entry['kl']:.4f} ± {entry['kl_stat']['std']:.4f}"
    assert ("kl-epoch-dy", ("kl_vs_epoch", variant, "raw", "BvsL", 0, "kl")) in with_err
    assert any(c["table"] == "kl-z-dy" for c in page.cells)  # floors and z


def test_sections_follow_the_files(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "adv"
    shutil.copytree(tiny_run, run)
    (run / "metrics.json").unlink(missing_ok=True)  # trained, not evaluated: provenance and the loss table
    page = parse(write_report(run))
    stamp = (run / "report.html").stat().st_mtime_ns
    assert write_report(run) and (run / "report.html").stat().st_mtime_ns == stamp  # same files, same page
    assert page.sections == ["provenance", "training"]
    assert {c["table"] for c in page.cells} == {"history-adversarial", "history-nominal"}
    check_cells(run, page.cells)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HepadvError, match="nothing to report"):
        write_report(tmp_path / "empty")
    with pytest.raises(HepadvError, match="no such run folder"):
        write_report(tmp_path / "missing")


def test_defence_study_numbers(tmp_path: Path) -> None:
    """The detector pipeline's tables (metrics.json in the layout ``hepadv defend`` writes)."""
    m = {"card": "detector", "pipeline": "detector", "runs": 2, "seconds": 12.5,
         "attack": {"label": "pgd ε=0.05", "params": {"epsilon": 0.05}}, "defence": {"name": "detector",
                                                                                   "params": {"threshold": 0.5}},
         "white_box": {"initial": [0.06, 0.05], "corrected": [0.02, 0.01], "initial_mean": 0.055,
                       "corrected_mean": 0.015, "detector_efficiency_clean": [0.6, 0.7],
                       "detector_efficiency_adversarial": [0.8, 0.75], "detector_auc": [0.71, 0.74]},
         "grey_box": {"initial_matrix": [[0.06, 0.04], [0.05, 0.05]], "corrected_matrix": [[0.02, 0.01], [0.01, 0.01]],
                      "initial": {"mean": 0.045, "std": 0.005}, "corrected": {"mean": 0.01, "std": 0.0}},
         "significance": {"runs": 2, "n_events": 90, "p": 0.02, "alpha": 0.05, "k": [0, 1, 2],
                          "observed": [80, 9, 1], "expected": [79.2, 10.6, 0.2], "p_values": [0.4, 0.6, 0.02],
                          "significant": [False, False, True]}}
    (tmp_path / "run" / "defences" / "detector-1234abcd").mkdir(parents=True)
    (tmp_path / "run" / "defences" / "detector-1234abcd" / "metrics.json").write_text(json.dumps(m))
    page = parse(write_report(tmp_path / "run"))
    assert page.sections == ["defences"]
    assert check_cells(tmp_path / "run", page.cells) == 4 + 2 * 5 + 2 * 4 + 3 * 4  # FR, per run, matrices, test
    grey = [c for c in page.cells if c["table"] == "defence-fr-detector-1234abcd" and c["err_key"]]
    assert [c["text"] for c in grey] == ["0.045 ± 0.005", "0.010 ± 0.000"]


def test_report_command_and_refresh(study: Path, tiny_run: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(build_app(), ["report", str(study)])
    assert result.exit_code == 0 and f"report: {study / 'report.html'}" in result.output.replace("\n", "")
    result = CliRunner().invoke(build_app(), ["report", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no such run folder" in result.output
    for command in ("train", "evaluate", "attack", "datamc", "defend"):
        assert "--no-report" in CliRunner().invoke(build_app(), [command, "--help"]).output, command
    run = tmp_path / "adv"
    shutil.copytree(tiny_run, run)
    (run / "report.html").unlink(missing_ok=True)
    result = CliRunner().invoke(build_app(), ["evaluate", str(run), "--no-progress", "--no-report"])
    assert result.exit_code == 0, result.output
    assert not (run / "report.html").exists() and "report:" not in result.output
    result = CliRunner().invoke(build_app(), ["evaluate", str(run), "--no-progress"])
    assert result.exit_code == 0 and (run / "report.html").is_file() and "report:" in result.output


def _chromium() -> str:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set HEPADV_CHROMIUM; .ci/run "
                    "installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra: pip install -e .[test]")
    return CHROMIUM


KEYED_CELLS_JS = """tables => tables.flatMap(t => Array.from(t.querySelectorAll('td[data-key]')).map(td => ({
    table: t.id, source: t.dataset.source || '', key: td.dataset.key, value: td.dataset.value,
    err_key: td.dataset.errKey || null, err: td.dataset.err || null, text: td.textContent})))"""


def test_report_in_a_real_browser(study: Path, tmp_path: Path) -> None:
    """Chromium renders it: images load, no console errors, no request leaves the file, tables equal the JSON."""
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    url = (study / "report.html").as_uri()
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=executable,
                                                       headless=True, args=CHROMIUM_FLAGS,
                                                       viewport={"width": 1400, "height": 900})
        try:
            context.on("request", lambda r: requests.append(r.url))
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url, wait_until="load")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
            page.wait_for_function("Array.from(document.querySelectorAll('figure.plot img')).every(i => i.complete)")
            images = page.eval_on_selector_all("figure.plot img", "imgs => imgs.map(i => [i.dataset.path, "
                                               "i.naturalWidth, i.naturalHeight])")
            cells = page.eval_on_selector_all("table#auc, table[id^='fr-'], table[id^='kl-']", KEYED_CELLS_JS)
            ids = page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")
            # sortable: a click on "AUC raw" orders the rows by it
            page.click("table#auc thead th:nth-child(3)")
            column = page.eval_on_selector_all("table#auc tbody tr td:nth-child(3)", "tds => tds.map(t => "
                                               "parseFloat(t.dataset.value))")
            # lightbox: a click on a plot shows it large, Escape closes it
            page.click("figure.plot img >> nth=0")
            shown = page.is_visible("#lightbox img")
            page.keyboard.press("Escape")
            hidden = page.is_hidden("#lightbox")
        finally:
            context.close()
    assert not errors, errors
    assert set(requests) == {url}, [r for r in requests if r != url][:5]
    assert len(images) == len(list(study.rglob("*.png"))) and all(w > 0 and h > 0 for _, w, h in images), [
        i for i in images if not i[1]]
    assert {c["table"] for c in cells} >= {"auc", "kl-dy"} and any(c["table"].startswith("fr-") for c in cells)
    static = [c for c in parse(study / "report.html").cells if c["table"] in {c["table"] for c in cells}]
    assert check_cells(study, cells) == len(static) > 50  # the browser shows what the file holds
    assert len(ids) == len(set(ids)), "duplicate element ids"
    assert column == sorted(column) and shown and hidden
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_attack_of_a_model_replaced_since_is_flagged(study: Path, tmp_path: Path) -> None:
    run = tmp_path / "adv"
    shutil.copytree(study, run)
    assert "describe the earlier model" not in (run / "report.html").read_text()
    [metrics] = sorted(run.glob("attacks/*/nominal/metrics.json"))
    m = json.loads(metrics.read_text())
    m["epoch"] = 1  # as if the run was resumed and its best model moved on since the attack
    metrics.write_text(json.dumps(m))
    html = write_report(run).read_text()
    assert html.count("describe the earlier model") == 1 and "nominal: attacked the model of epoch 1" in html
