"""A throwaway environment to pip-install plugin packages into, for the guide and scaffold tests.

A venv made from the shared venv's python does not see that venv's packages (``--system-site-packages``
means the base interpreter's), so a ``.pth`` file puts the hepadv tree under test first and then the
running environment's site-packages (torch, pytest, setuptools...) on its path. Packages are installed
with ``--no-deps --no-build-isolation``: offline, nothing reinstalled.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class PluginEnv:
    """A venv at ``root`` whose ``python`` imports this checkout's hepadv and installs plugins locally."""

    def __init__(self, root: Path) -> None:
        self.root = root
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        self.python = root / "bin" / "python"
        purelib = subprocess.run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        ours = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()]
        lines = [str(REPO), *(f"import site; site.addsitedir({p!r})" for p in sorted(ours))]
        (Path(purelib) / "00-hepadv-under-test.pth").write_text("\n".join(lines) + "\n")
        script = root / "bin" / "hepadv"  # what `pip install hepadv` would put on PATH
        script.write_text(f"#!{self.python}\nfrom hepadv.cli.main import main\nmain()\n")
        script.chmod(0o755)

    def env(self, load_plugins: list[str] | None = None) -> dict[str, str]:
        """The environment for commands in this venv; ``load_plugins`` None: every installed plugin loads."""
        env = {k: v for k, v in os.environ.items() if k not in ("HEPADV_LOAD_PLUGINS", "PYTHONPATH")}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.root)
        env["COLUMNS"] = "200"  # rich tables unwrapped, so names can be looked for in the output
        if load_plugins is not None:
            env["HEPADV_LOAD_PLUGINS"] = ",".join(load_plugins)
        return env

    def install(self, *packages: Path, editable: bool = False) -> None:
        args = [str(self.python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                "--no-index", "--disable-pip-version-check", "--ignore-installed"]
        for pkg in packages:
            args += ["-e", str(Path(pkg).resolve())] if editable else [str(Path(pkg).resolve())]
        run(args, env=self.env(), cwd=self.root)

    def run(self, args: list[str], cwd: Path, load_plugins: list[str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(args, env=self.env(load_plugins), cwd=cwd, check=check)


def run(args: list[str], env: dict[str, str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure the assertion shows its output."""
    out = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    if check:
        assert out.returncode == 0, f"{' '.join(map(str, args))} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    return out


#: Modules that ``hepadv --help`` must not import, whatever plugins are installed.
HEAVY = ("torch", "coffea", "dask", "distributed", "awkward", "uproot", "matplotlib", "numba", "pyarrow", "h5py")


def help_imports(env: PluginEnv, cwd: Path) -> set[str]:
    """Every module (and its top-level package) in ``sys.modules`` after ``hepadv --help``, all plugins loading.

    Read from ``sys.modules`` rather than ``-X importtime``, which misses modules loaded through importlib
    (entry points are).
    """
    listing = cwd / "help-modules.txt"
    code = ("import runpy, sys\n"
            "sys.argv = ['hepadv', '--help']\n"
            "try:\n    runpy.run_module('hepadv', run_name='__main__')\n"
            "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
            f"open({str(listing)!r}, 'w').write('\\n'.join(sys.modules))\n")
    env.run([str(env.python), "-c", code], cwd=cwd)
    names = set(listing.read_text().split())
    return names | {n.split(".")[0] for n in names}


_DRIVER = """\
import contextlib, io, json, shlex, sys
from typer.testing import CliRunner
from hepadv.cli.main import build_app
results = []
for kind, text in json.loads(sys.argv[1]):
    if kind == "cli":
        args = shlex.split(text)
        assert args[0] == "hepadv", text
        r = CliRunner().invoke(build_app(), args[1:])
        results.append({"step": text, "code": r.exit_code, "output": r.output})
        continue
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(text, "<guide>", "exec"), {"__name__": "__main__"})
    results.append({"step": text, "code": 0, "output": out.getvalue()})
print(json.dumps(results))
"""


def run_steps(env: PluginEnv, steps: list[tuple[str, str]], cwd: Path) -> list[str]:
    """Run ``hepadv ...`` lines (``("cli", line)``) and scripts (``("python", code)``) in one venv process.

    One process instead of one per step: each would import torch again, which costs seconds. Each CLI line
    goes through the real app (plugins loaded from their entry points, the error boundary, exit codes).
    """
    import json

    out = env.run([str(env.python), "-c", _DRIVER, json.dumps(steps)], cwd=cwd)
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for r in results:
        assert r["code"] == 0, f"{r['step']!r} exited {r['code']}:\n{r['output']}"
    return [r["output"] for r in results]
